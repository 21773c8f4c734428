//! The static SCIM schemas scimd serves: core User, Enterprise User extension
//! and core Group (RFC 7643 §4), the common attributes every resource carries
//! (§3.1), the two resource types, and case-insensitive lookup of
//! client-written attribute paths against them. Everything else that needs to
//! know an attribute's type, mutability or `returned` rule (normalisation,
//! projection, PATCH, filters, the discovery endpoints) reads it from here, so
//! this file is the single source of truth. Pure: constant data and lookups,
//! no I/O.

use crate::scim::attrpath::AttrPath;

pub const USER_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
pub const ENTERPRISE_USER_URN: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
pub const GROUP_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";
pub const LIST_RESPONSE_URN: &str = "urn:ietf:params:scim:api:messages:2.0:ListResponse";
pub const PATCH_OP_URN: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";
pub const ERROR_URN: &str = "urn:ietf:params:scim:api:messages:2.0:Error";
pub const SEARCH_REQUEST_URN: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
pub const BULK_REQUEST_URN: &str = "urn:ietf:params:scim:api:messages:2.0:BulkRequest";
pub const BULK_RESPONSE_URN: &str = "urn:ietf:params:scim:api:messages:2.0:BulkResponse";
pub const SPC_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig";
pub const RESOURCE_TYPE_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:ResourceType";
pub const SCHEMA_URN: &str = "urn:ietf:params:scim:schemas:core:2.0:Schema";

/// RFC 7643 §2.3 data types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrType {
    String,
    Boolean,
    Decimal,
    Integer,
    DateTime,
    Binary,
    Reference,
    Complex,
}

impl AttrType {
    pub fn as_str(self) -> &'static str {
        match self {
            AttrType::String => "string",
            AttrType::Boolean => "boolean",
            AttrType::Decimal => "decimal",
            AttrType::Integer => "integer",
            AttrType::DateTime => "dateTime",
            AttrType::Binary => "binary",
            AttrType::Reference => "reference",
            AttrType::Complex => "complex",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mutability {
    ReadOnly,
    ReadWrite,
    Immutable,
    WriteOnly,
}

impl Mutability {
    pub fn as_str(self) -> &'static str {
        match self {
            Mutability::ReadOnly => "readOnly",
            Mutability::ReadWrite => "readWrite",
            Mutability::Immutable => "immutable",
            Mutability::WriteOnly => "writeOnly",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Returned {
    Always,
    Never,
    Default,
    Request,
}

impl Returned {
    pub fn as_str(self) -> &'static str {
        match self {
            Returned::Always => "always",
            Returned::Never => "never",
            Returned::Default => "default",
            Returned::Request => "request",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uniqueness {
    None,
    Server,
    Global,
}

impl Uniqueness {
    pub fn as_str(self) -> &'static str {
        match self {
            Uniqueness::None => "none",
            Uniqueness::Server => "server",
            Uniqueness::Global => "global",
        }
    }
}

/// One attribute definition (RFC 7643 §7 "attributes").
#[derive(Debug, Clone, Copy)]
pub struct AttrDef {
    pub name: &'static str,
    pub ty: AttrType,
    pub multi_valued: bool,
    pub required: bool,
    pub case_exact: bool,
    pub mutability: Mutability,
    pub returned: Returned,
    pub uniqueness: Uniqueness,
    pub canonical_values: &'static [&'static str],
    pub reference_types: &'static [&'static str],
    pub sub_attributes: &'static [AttrDef],
    pub description: &'static str,
}

impl AttrDef {
    /// Case-insensitive sub-attribute lookup (RFC 7643 §2.1: names are
    /// case-insensitive).
    pub fn sub(&self, name: &str) -> Option<&'static AttrDef> {
        self.sub_attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }

    /// Neither stored nor echoed back: readOnly values are the server's to
    /// set, writeOnly/never values (password) scimd never keeps.
    pub fn client_writable(&self) -> bool {
        !matches!(
            self.mutability,
            Mutability::ReadOnly | Mutability::WriteOnly
        ) && self.returned != Returned::Never
    }

    // Builders. Defaults are RFC 7643 §2.2's: string, singular, optional,
    // case-insensitive, readWrite, returned by default, not unique.
    const fn new(name: &'static str, ty: AttrType, description: &'static str) -> AttrDef {
        AttrDef {
            name,
            ty,
            multi_valued: false,
            required: false,
            case_exact: false,
            mutability: Mutability::ReadWrite,
            returned: Returned::Default,
            uniqueness: Uniqueness::None,
            canonical_values: &[],
            reference_types: &[],
            sub_attributes: &[],
            description,
        }
    }
    const fn multi(mut self) -> AttrDef {
        self.multi_valued = true;
        self
    }
    const fn required(mut self) -> AttrDef {
        self.required = true;
        self
    }
    const fn case_exact(mut self) -> AttrDef {
        self.case_exact = true;
        self
    }
    const fn mutability(mut self, m: Mutability) -> AttrDef {
        self.mutability = m;
        self
    }
    const fn returned(mut self, r: Returned) -> AttrDef {
        self.returned = r;
        self
    }
    const fn unique(mut self, u: Uniqueness) -> AttrDef {
        self.uniqueness = u;
        self
    }
    const fn canonical(mut self, values: &'static [&'static str]) -> AttrDef {
        self.canonical_values = values;
        self
    }
    const fn refs(mut self, types: &'static [&'static str]) -> AttrDef {
        self.reference_types = types;
        self
    }
    const fn subs(mut self, subs: &'static [AttrDef]) -> AttrDef {
        self.sub_attributes = subs;
        self
    }
}

const fn string(name: &'static str, description: &'static str) -> AttrDef {
    AttrDef::new(name, AttrType::String, description)
}

const fn complex(name: &'static str, description: &'static str) -> AttrDef {
    AttrDef::new(name, AttrType::Complex, description)
}

const fn reference(
    name: &'static str,
    types: &'static [&'static str],
    description: &'static str,
) -> AttrDef {
    AttrDef::new(name, AttrType::Reference, description).refs(types)
}

const fn boolean(name: &'static str, description: &'static str) -> AttrDef {
    AttrDef::new(name, AttrType::Boolean, description)
}

const DISPLAY: AttrDef = string("display", "A human-readable name, for display only.");
const PRIMARY: AttrDef = boolean(
    "primary",
    "Marks the preferred value; at most one value may be primary.",
);

/// The value/display/type/primary shape RFC 7643 §2.4 gives most
/// multi-valued attributes, differing only in value type and type labels.
const fn plural_subs(value: AttrDef, types: &'static [&'static str]) -> [AttrDef; 4] {
    [
        value,
        DISPLAY,
        string("type", "A label for the value's function, e.g. 'work'.").canonical(types),
        PRIMARY,
    ]
}

/// A schema (RFC 7643 §7): its URN, name and attributes.
#[derive(Debug)]
pub struct SchemaDef {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    pub attributes: &'static [AttrDef],
}

impl SchemaDef {
    /// Case-insensitive attribute lookup.
    pub fn attr(&self, name: &str) -> Option<&'static AttrDef> {
        self.attributes
            .iter()
            .find(|a| a.name.eq_ignore_ascii_case(name))
    }
}

const NAME_SUBS: &[AttrDef] = &[
    string("formatted", "The full name formatted for display."),
    string("familyName", "The family (last) name."),
    string("givenName", "The given (first) name."),
    string("middleName", "The middle name(s)."),
    string("honorificPrefix", "Honorific prefix(es), e.g. 'Ms.'."),
    string("honorificSuffix", "Honorific suffix(es), e.g. 'III'."),
];

const EMAIL_SUBS: &[AttrDef] = &plural_subs(
    string("value", "An email address."),
    &["work", "home", "other"],
);
const PHONE_SUBS: &[AttrDef] = &plural_subs(
    string("value", "A phone number, ideally in RFC 3966 form."),
    &["work", "home", "mobile", "fax", "pager", "other"],
);
const IM_SUBS: &[AttrDef] = &plural_subs(
    string("value", "An instant messaging address."),
    &["aim", "gtalk", "icq", "xmpp", "msn", "skype", "qq", "yahoo"],
);
const PHOTO_SUBS: &[AttrDef] = &plural_subs(
    reference("value", &["external"], "URL of a photo of the User."),
    &["photo", "thumbnail"],
);
const ENTITLEMENT_SUBS: &[AttrDef] =
    &plural_subs(string("value", "The value of an entitlement."), &[]);
const ROLE_SUBS: &[AttrDef] = &plural_subs(string("value", "The value of a role."), &[]);
const CERT_SUBS: &[AttrDef] = &plural_subs(
    AttrDef::new(
        "value",
        AttrType::Binary,
        "A base64-encoded DER X.509 certificate.",
    ),
    &[],
);

const ADDRESS_SUBS: &[AttrDef] = &[
    string(
        "formatted",
        "The full mailing address formatted for display.",
    ),
    string("streetAddress", "The street address component."),
    string("locality", "The city or locality."),
    string("region", "The state or region."),
    string("postalCode", "The postal or zip code."),
    string("country", "The country name component."),
    string("type", "A label for the address, e.g. 'work'.").canonical(&["work", "home", "other"]),
    // Not in the RFC's schema listing but in its §2.4 defaults and examples;
    // IdPs send it, so it is kept rather than silently dropped.
    PRIMARY,
];

const GROUPS_SUBS: &[AttrDef] = &[
    string("value", "The id of a Group the User belongs to.").mutability(Mutability::ReadOnly),
    reference("$ref", &["User", "Group"], "The URI of that Group.")
        .mutability(Mutability::ReadOnly),
    string("display", "The Group's display name.").mutability(Mutability::ReadOnly),
    string("type", "How the User belongs to the Group.")
        .canonical(&["direct", "indirect"])
        .mutability(Mutability::ReadOnly),
];

const USER_ATTRS: &[AttrDef] = &[
    string(
        "userName",
        "Unique identifier the User signs in with. REQUIRED.",
    )
    .required()
    .unique(Uniqueness::Server),
    complex("name", "The components of the User's real name.").subs(NAME_SUBS),
    string("displayName", "The name of the User suitable for display."),
    string("nickName", "The casual way to address the User."),
    reference(
        "profileUrl",
        &["external"],
        "URL of the User's online profile.",
    ),
    string("title", "The User's title, e.g. 'Vice President'."),
    string(
        "userType",
        "The relationship between organisation and User, e.g. 'Employee'.",
    ),
    string(
        "preferredLanguage",
        "The User's preferred language, e.g. 'en-US'.",
    ),
    string(
        "locale",
        "The User's default location for localisation, e.g. 'en-US'.",
    ),
    string(
        "timezone",
        "The User's time zone in IANA form, e.g. 'Europe/Paris'.",
    ),
    boolean("active", "The User's administrative status."),
    string(
        "password",
        "Cleartext password; accepted and never stored or returned.",
    )
    .mutability(Mutability::WriteOnly)
    .returned(Returned::Never),
    complex("emails", "Email addresses of the User.")
        .multi()
        .subs(EMAIL_SUBS),
    complex("phoneNumbers", "Phone numbers of the User.")
        .multi()
        .subs(PHONE_SUBS),
    complex("ims", "Instant messaging addresses of the User.")
        .multi()
        .subs(IM_SUBS),
    complex("photos", "URLs of photos of the User.")
        .multi()
        .subs(PHOTO_SUBS),
    complex("addresses", "Physical mailing addresses of the User.")
        .multi()
        .subs(ADDRESS_SUBS),
    complex(
        "groups",
        "Groups the User belongs to; maintained by the server.",
    )
    .multi()
    .mutability(Mutability::ReadOnly)
    .subs(GROUPS_SUBS),
    complex("entitlements", "Entitlements of the User.")
        .multi()
        .subs(ENTITLEMENT_SUBS),
    complex("roles", "Roles of the User.")
        .multi()
        .subs(ROLE_SUBS),
    complex("x509Certificates", "Certificates issued to the User.")
        .multi()
        .subs(CERT_SUBS),
];

const MANAGER_SUBS: &[AttrDef] = &[
    string("value", "The id of the manager's User resource."),
    reference("$ref", &["User"], "The URI of the manager's User resource."),
    string("displayName", "The manager's display name.").mutability(Mutability::ReadOnly),
];

const ENTERPRISE_ATTRS: &[AttrDef] = &[
    string(
        "employeeNumber",
        "Identifier assigned by the organisation, e.g. in hire order.",
    ),
    string("costCenter", "Name of a cost center."),
    string("organization", "Name of an organization."),
    string("division", "Name of a division."),
    string("department", "Name of a department."),
    complex("manager", "The User's manager.").subs(MANAGER_SUBS),
];

const MEMBER_SUBS: &[AttrDef] = &[
    string("value", "The id of a member User or Group.").mutability(Mutability::Immutable),
    reference("$ref", &["User", "Group"], "The URI of the member.")
        .mutability(Mutability::Immutable),
    string("display", "The member's display name.").mutability(Mutability::ReadOnly),
    string("type", "The kind of member.")
        .canonical(&["User", "Group"])
        .mutability(Mutability::Immutable),
];

const GROUP_ATTRS: &[AttrDef] = &[
    // The RFC's schema listing says required:false but its prose says
    // REQUIRED; every IdP sends one and scimd indexes it.
    string(
        "displayName",
        "A human-readable name for the Group. REQUIRED.",
    )
    .required(),
    complex("members", "The members of the Group.")
        .multi()
        .subs(MEMBER_SUBS),
];

const META_SUBS: &[AttrDef] = &[
    string("resourceType", "The name of the resource's type.")
        .case_exact()
        .mutability(Mutability::ReadOnly),
    AttrDef::new(
        "created",
        AttrType::DateTime,
        "When the resource was added.",
    )
    .mutability(Mutability::ReadOnly),
    AttrDef::new(
        "lastModified",
        AttrType::DateTime,
        "When the resource was last changed.",
    )
    .mutability(Mutability::ReadOnly),
    reference("location", &["uri"], "The URI of the resource.").mutability(Mutability::ReadOnly),
    string("version", "The resource's entity tag.")
        .case_exact()
        .mutability(Mutability::ReadOnly),
];

const COMMON_ATTRS: &[AttrDef] = &[
    string("id", "Server-assigned unique identifier of the resource.")
        .case_exact()
        .mutability(Mutability::ReadOnly)
        .returned(Returned::Always)
        .unique(Uniqueness::Server),
    string("externalId", "The client's identifier for the resource.").case_exact(),
    complex("meta", "Resource metadata maintained by the server.")
        .mutability(Mutability::ReadOnly)
        .subs(META_SUBS),
];

pub static USER_SCHEMA: SchemaDef = SchemaDef {
    id: USER_URN,
    name: "User",
    description: "User Account",
    attributes: USER_ATTRS,
};

pub static ENTERPRISE_USER_SCHEMA: SchemaDef = SchemaDef {
    id: ENTERPRISE_USER_URN,
    name: "EnterpriseUser",
    description: "Enterprise User",
    attributes: ENTERPRISE_ATTRS,
};

pub static GROUP_SCHEMA: SchemaDef = SchemaDef {
    id: GROUP_URN,
    name: "Group",
    description: "Group",
    attributes: GROUP_ATTRS,
};

/// A resource type (RFC 7643 §6): endpoint, core schema and extensions.
/// Every extension is optional (`required: false`).
#[derive(Debug)]
pub struct ResourceType {
    pub name: &'static str,
    pub endpoint: &'static str,
    pub description: &'static str,
    pub schema: &'static SchemaDef,
    pub extensions: &'static [&'static SchemaDef],
}

pub static USER_TYPE: ResourceType = ResourceType {
    name: "User",
    endpoint: "/Users",
    description: "User Account",
    schema: &USER_SCHEMA,
    extensions: &[&ENTERPRISE_USER_SCHEMA],
};

pub static GROUP_TYPE: ResourceType = ResourceType {
    name: "Group",
    endpoint: "/Groups",
    description: "Group",
    schema: &GROUP_SCHEMA,
    extensions: &[],
};

/// Every resource type scimd serves, in discovery order.
pub fn resource_types() -> [&'static ResourceType; 2] {
    [&USER_TYPE, &GROUP_TYPE]
}

/// Every schema scimd serves, in discovery order.
pub fn schemas() -> [&'static SchemaDef; 3] {
    [&USER_SCHEMA, &ENTERPRISE_USER_SCHEMA, &GROUP_SCHEMA]
}

/// A served schema by URN (case-insensitive), for `/Schemas/<urn>`.
pub fn schema_by_id(id: &str) -> Option<&'static SchemaDef> {
    schemas()
        .into_iter()
        .find(|s| s.id.eq_ignore_ascii_case(id))
}

/// A resource type by name (case-insensitive), for `/ResourceTypes/<name>`.
pub fn resource_type_by_name(name: &str) -> Option<&'static ResourceType> {
    resource_types()
        .into_iter()
        .find(|rt| rt.name.eq_ignore_ascii_case(name))
}

/// `id`, `externalId` and `meta` (RFC 7643 §3.1): part of every resource
/// but of no schema, so they never appear in a `/Schemas` document.
pub fn common_attributes() -> &'static [AttrDef] {
    COMMON_ATTRS
}

/// A client path resolved against a resource type.
#[derive(Debug, Clone, Copy)]
pub struct Resolved {
    /// The schema defining the attribute; `None` for common attributes.
    pub schema: Option<&'static SchemaDef>,
    pub attr: &'static AttrDef,
    pub sub: Option<&'static AttrDef>,
}

impl Resolved {
    /// The extension URN the attribute lives under, or `None` when it sits at
    /// the top level of the resource (core and common attributes).
    pub fn extension(&self, rt: &ResourceType) -> Option<&'static str> {
        match self.schema {
            Some(s) if !std::ptr::eq(s, rt.schema) => Some(s.id),
            _ => None,
        }
    }
}

/// Case-insensitive lookup of a client-written path against a resource type:
/// core attributes, then common attributes, then extension attributes (with or
/// without their URN prefix; the URN is compared case-insensitively). `None`
/// if the path names nothing scimd knows, including a sub-attribute of a
/// simple attribute.
pub fn resolve(rt: &ResourceType, path: &AttrPath) -> Option<Resolved> {
    let (schema, attr) = match &path.urn {
        Some(urn) if urn.eq_ignore_ascii_case(rt.schema.id) => find_core(rt, &path.name)?,
        Some(urn) => {
            let ext = extension_by_urn(rt, urn)?;
            (Some(ext), ext.attr(&path.name)?)
        }
        None => find_core(rt, &path.name).or_else(|| {
            rt.extensions
                .iter()
                .find_map(|ext| ext.attr(&path.name).map(|a| (Some(*ext), a)))
        })?,
    };
    let sub = match &path.sub {
        Some(s) => Some(attr.sub(s)?),
        None => None,
    };
    Some(Resolved { schema, attr, sub })
}

fn find_core(
    rt: &ResourceType,
    name: &str,
) -> Option<(Option<&'static SchemaDef>, &'static AttrDef)> {
    if let Some(a) = rt.schema.attr(name) {
        return Some((Some(rt.schema), a));
    }
    COMMON_ATTRS
        .iter()
        .find(|a| a.name.eq_ignore_ascii_case(name))
        .map(|a| (None, a))
}

/// The extension schema of `rt` whose URN is `urn` (case-insensitive).
pub fn extension_by_urn(rt: &ResourceType, urn: &str) -> Option<&'static SchemaDef> {
    rt.extensions
        .iter()
        .find(|s| s.id.eq_ignore_ascii_case(urn))
        .copied()
}

/// Recognises a path naming a whole extension. `AttrPath::parse` splits a bare
/// extension URN at its last colon, so
/// `urn:ietf:params:scim:schemas:extension:enterprise:2.0:User` arrives as
/// urn `…:enterprise:2.0`, name `User`; both halves are rejoined here.
pub fn extension_for_path(rt: &ResourceType, path: &AttrPath) -> Option<&'static SchemaDef> {
    if path.sub.is_some() {
        return None;
    }
    match &path.urn {
        Some(urn) => rt.extensions.iter().copied().find(|s| {
            s.id.len() == urn.len() + 1 + path.name.len()
                && s.id
                    .get(..urn.len())
                    .is_some_and(|head| head.eq_ignore_ascii_case(urn))
                && s.id
                    .get(urn.len() + 1..)
                    .is_some_and(|tail| tail.eq_ignore_ascii_case(&path.name))
        }),
        None => extension_by_urn(rt, &path.name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(s: &str) -> AttrPath {
        AttrPath::parse(s).unwrap()
    }

    fn all_defs(attrs: &'static [AttrDef]) -> Vec<&'static AttrDef> {
        attrs
            .iter()
            .flat_map(|a| std::iter::once(a).chain(a.sub_attributes.iter()))
            .collect()
    }

    #[test]
    fn user_schema_has_every_rfc_attribute_in_order() {
        let names: Vec<_> = USER_SCHEMA.attributes.iter().map(|a| a.name).collect();
        assert_eq!(
            names,
            [
                "userName",
                "name",
                "displayName",
                "nickName",
                "profileUrl",
                "title",
                "userType",
                "preferredLanguage",
                "locale",
                "timezone",
                "active",
                "password",
                "emails",
                "phoneNumbers",
                "ims",
                "photos",
                "addresses",
                "groups",
                "entitlements",
                "roles",
                "x509Certificates",
            ]
        );
    }

    #[test]
    fn user_name_is_required_and_server_unique() {
        let a = USER_SCHEMA.attr("userName").unwrap();
        assert!(a.required);
        assert_eq!(a.uniqueness, Uniqueness::Server);
        assert!(!a.case_exact);
    }

    #[test]
    fn password_is_write_only_and_never_returned() {
        let a = USER_SCHEMA.attr("password").unwrap();
        assert_eq!(a.mutability, Mutability::WriteOnly);
        assert_eq!(a.returned, Returned::Never);
        assert!(!a.client_writable());
    }

    #[test]
    fn groups_and_all_its_sub_attributes_are_read_only() {
        let g = USER_SCHEMA.attr("groups").unwrap();
        assert_eq!(g.mutability, Mutability::ReadOnly);
        assert!(g.multi_valued);
        assert!(g
            .sub_attributes
            .iter()
            .all(|s| s.mutability == Mutability::ReadOnly));
        assert_eq!(
            g.sub("type").unwrap().canonical_values,
            ["direct", "indirect"]
        );
    }

    #[test]
    fn plural_attributes_carry_their_canonical_types() {
        let types = |n: &str| {
            USER_SCHEMA
                .attr(n)
                .unwrap()
                .sub("type")
                .unwrap()
                .canonical_values
        };
        assert_eq!(types("emails"), ["work", "home", "other"]);
        assert_eq!(
            types("phoneNumbers"),
            ["work", "home", "mobile", "fax", "pager", "other"]
        );
        assert_eq!(types("photos"), ["photo", "thumbnail"]);
        assert_eq!(types("ims").len(), 8);
    }

    #[test]
    fn value_types_follow_the_rfc() {
        let sub_ty = |n: &str| USER_SCHEMA.attr(n).unwrap().sub("value").unwrap().ty;
        assert_eq!(sub_ty("x509Certificates"), AttrType::Binary);
        assert_eq!(sub_ty("photos"), AttrType::Reference);
        assert_eq!(USER_SCHEMA.attr("active").unwrap().ty, AttrType::Boolean);
        assert_eq!(
            USER_SCHEMA.attr("profileUrl").unwrap().reference_types,
            ["external"]
        );
    }

    #[test]
    fn enterprise_manager_display_name_is_read_only() {
        let m = ENTERPRISE_USER_SCHEMA.attr("manager").unwrap();
        assert_eq!(m.ty, AttrType::Complex);
        assert_eq!(
            m.sub("displayName").unwrap().mutability,
            Mutability::ReadOnly
        );
        assert_eq!(m.sub("value").unwrap().mutability, Mutability::ReadWrite);
        assert_eq!(m.sub("$ref").unwrap().reference_types, ["User"]);
        let names: Vec<_> = ENTERPRISE_USER_SCHEMA
            .attributes
            .iter()
            .map(|a| a.name)
            .collect();
        assert_eq!(
            names,
            [
                "employeeNumber",
                "costCenter",
                "organization",
                "division",
                "department",
                "manager"
            ]
        );
    }

    #[test]
    fn group_members_value_is_immutable_and_display_read_only() {
        assert!(GROUP_SCHEMA.attr("displayName").unwrap().required);
        let m = GROUP_SCHEMA.attr("members").unwrap();
        assert!(m.multi_valued);
        assert_eq!(m.mutability, Mutability::ReadWrite);
        assert_eq!(m.sub("value").unwrap().mutability, Mutability::Immutable);
        assert_eq!(m.sub("display").unwrap().mutability, Mutability::ReadOnly);
        assert_eq!(m.sub("type").unwrap().canonical_values, ["User", "Group"]);
    }

    #[test]
    fn common_id_is_read_only_always_returned_case_exact() {
        let id = &common_attributes()[0];
        assert_eq!(id.name, "id");
        assert_eq!(id.mutability, Mutability::ReadOnly);
        assert_eq!(id.returned, Returned::Always);
        assert!(id.case_exact);
        assert_eq!(id.uniqueness, Uniqueness::Server);
        let ext = &common_attributes()[1];
        assert!(ext.case_exact);
        assert_eq!(ext.mutability, Mutability::ReadWrite);
        let meta = &common_attributes()[2];
        assert_eq!(meta.mutability, Mutability::ReadOnly);
        let subs: Vec<_> = meta.sub_attributes.iter().map(|a| a.name).collect();
        assert_eq!(
            subs,
            [
                "resourceType",
                "created",
                "lastModified",
                "location",
                "version"
            ]
        );
    }

    #[test]
    fn only_complex_attributes_have_sub_attributes() {
        for s in schemas() {
            for a in all_defs(s.attributes) {
                assert_eq!(
                    a.ty == AttrType::Complex,
                    !a.sub_attributes.is_empty(),
                    "{}",
                    a.name
                );
            }
        }
    }

    #[test]
    fn names_are_valid_and_unique_within_each_level() {
        for s in schemas() {
            let mut levels = vec![s.attributes];
            levels.extend(s.attributes.iter().map(|a| a.sub_attributes));
            for level in levels {
                for (i, a) in level.iter().enumerate() {
                    assert!(crate::scim::attrpath::is_attr_name(a.name), "{}", a.name);
                    assert!(
                        level[i + 1..]
                            .iter()
                            .all(|b| !b.name.eq_ignore_ascii_case(a.name)),
                        "duplicate {}",
                        a.name
                    );
                }
            }
        }
    }

    #[test]
    fn resolve_is_case_insensitive() {
        let r = resolve(&USER_TYPE, &path("USERNAME")).unwrap();
        assert_eq!(r.attr.name, "userName");
        assert!(std::ptr::eq(r.schema.unwrap(), &USER_SCHEMA));
        let r = resolve(&USER_TYPE, &path("Name.GivenName")).unwrap();
        assert_eq!(r.sub.unwrap().name, "givenName");
    }

    #[test]
    fn resolve_finds_common_attributes_with_no_schema() {
        let r = resolve(&GROUP_TYPE, &path("meta.lastModified")).unwrap();
        assert!(r.schema.is_none());
        assert_eq!(r.attr.name, "meta");
        assert_eq!(r.sub.unwrap().name, "lastModified");
        assert!(resolve(&USER_TYPE, &path("externalId")).is_some());
    }

    #[test]
    fn resolve_accepts_core_urn_prefix() {
        let r = resolve(
            &USER_TYPE,
            &path("urn:ietf:params:scim:schemas:core:2.0:User:emails.value"),
        )
        .unwrap();
        assert_eq!(r.attr.name, "emails");
        assert_eq!(r.extension(&USER_TYPE), None);
    }

    #[test]
    fn resolve_finds_extension_attributes_with_or_without_urn() {
        let with = resolve(
            &USER_TYPE,
            &path("URN:IETF:params:scim:schemas:extension:enterprise:2.0:user:Manager.value"),
        )
        .unwrap();
        assert_eq!(with.attr.name, "manager");
        assert_eq!(with.extension(&USER_TYPE), Some(ENTERPRISE_USER_URN));
        let without = resolve(&USER_TYPE, &path("employeeNumber")).unwrap();
        assert_eq!(without.extension(&USER_TYPE), Some(ENTERPRISE_USER_URN));
    }

    #[test]
    fn resolve_rejects_unknown_names_and_wrong_urns() {
        assert!(resolve(&USER_TYPE, &path("shoeSize")).is_none());
        assert!(resolve(&USER_TYPE, &path("name.shoeSize")).is_none());
        assert!(resolve(&USER_TYPE, &path("userName.value")).is_none());
        assert!(resolve(&GROUP_TYPE, &path("employeeNumber")).is_none());
        assert!(resolve(&GROUP_TYPE, &path(&format!("{USER_URN}:userName"))).is_none());
        assert!(resolve(&USER_TYPE, &path("urn:example:foo:bar")).is_none());
    }

    #[test]
    fn extension_is_recognised_from_a_split_path_or_plain_urn() {
        let p = path(ENTERPRISE_USER_URN);
        assert!(extension_for_path(&USER_TYPE, &p).is_some());
        let lower = path(&ENTERPRISE_USER_URN.to_ascii_lowercase());
        assert!(extension_for_path(&USER_TYPE, &lower).is_some());
        assert!(extension_by_urn(&USER_TYPE, ENTERPRISE_USER_URN).is_some());
        assert!(extension_for_path(&GROUP_TYPE, &p).is_none());
        assert!(extension_for_path(&USER_TYPE, &path("employeeNumber")).is_none());
        let attr = path(&format!("{ENTERPRISE_USER_URN}:manager"));
        assert!(extension_for_path(&USER_TYPE, &attr).is_none());
    }

    #[test]
    fn lookups_by_id_and_name_are_case_insensitive() {
        assert!(schema_by_id(&GROUP_URN.to_uppercase()).is_some());
        assert!(schema_by_id("urn:nope").is_none());
        assert_eq!(resource_type_by_name("user").unwrap().endpoint, "/Users");
        assert_eq!(resource_type_by_name("Group").unwrap().endpoint, "/Groups");
    }

    #[test]
    fn enum_strings_match_the_rfc_keywords() {
        assert_eq!(AttrType::DateTime.as_str(), "dateTime");
        assert_eq!(Mutability::ReadOnly.as_str(), "readOnly");
        assert_eq!(Mutability::WriteOnly.as_str(), "writeOnly");
        assert_eq!(Returned::Request.as_str(), "request");
        assert_eq!(Uniqueness::Global.as_str(), "global");
    }
}
