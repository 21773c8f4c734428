//! The guide's data: one `IdpGuide` per identity provider, in that IdP's
//! own words (menu paths, field labels, attribute names). `{base}` (the SCIM
//! base URL), `{id}` (the integration id) and `{url}` (the public URL) are
//! filled in when rendering. A new IdP is a new entry here.

use crate::scim::idp::Idp;

/// The attribute rows every guide maps, in order: the SCIM attribute and
/// what scimd does with it. Each guide's `attributes` names the IdP's own
/// source for each row, in the same order.
pub const ATTRIBUTES: [(&str, &str); 14] = [
    (
        "userName",
        "required; unique per integration, compared case-insensitively",
    ),
    ("name.givenName", ""),
    ("name.familyName", ""),
    (
        "emails[type eq \"work\"].value",
        "the primary email local apps see",
    ),
    ("phoneNumbers[type eq \"mobile\"].value", ""),
    ("phoneNumbers[type eq \"work\"].value", ""),
    ("title", ""),
    ("addresses[type eq \"work\"].streetAddress", ""),
    ("addresses[type eq \"work\"].locality", ""),
    ("addresses[type eq \"work\"].region", ""),
    ("addresses[type eq \"work\"].postalCode", ""),
    (
        "addresses[type eq \"work\"].country",
        "ISO 3166 two-letter code",
    ),
    ("active", "false keeps the user, inactive and not entitled"),
    (
        "externalId",
        "the IdP's own id; a create matching a removed user's revives it",
    ),
];

pub struct IdpGuide {
    pub idp: Idp,
    /// Which kind of app or connector to use, in one paragraph.
    pub intro: &'static str,
    /// What goes in the authentication row of the values table.
    pub auth: &'static str,
    /// Where to click, in order.
    pub connect: &'static [&'static str],
    /// Field label → value, as the IdP's forms name them.
    pub fields: &'static [(&'static str, &'static str)],
    pub actions: &'static [&'static str],
    /// Said above the attribute table: where the mapping is edited.
    pub mapping_note: &'static str,
    /// The IdP's source for each row of `ATTRIBUTES`.
    pub attributes: [&'static str; 14],
    /// How to run the IdP's own connection test and what it sends.
    pub test: &'static [&'static str],
    pub traps: &'static [&'static str],
    /// What the IdP sends when a user is removed, before scimd's side.
    pub on_remove: &'static str,
}

pub fn guide_for(idp: Idp) -> &'static IdpGuide {
    GUIDES
        .iter()
        .find(|g| g.idp == idp)
        .unwrap_or(&GUIDES[GUIDES.len() - 1])
}

const TOKEN: &str = "the bearer token (`scimd token rotate {id}` if you no longer have it)";

static GUIDES: [IdpGuide; 7] = [
    IdpGuide {
        idp: Idp::Okta,
        intro: "Use an Okta app integration with SCIM provisioning (a SAML 2.0 or SWA app \
            whose provisioning is set to SCIM), or the catalog app \"SCIM 2.0 Test App (OAuth \
            Bearer Token)\". Both push users over SCIM 2.0 with a bearer token; the steps below \
            are for the app integration, with the Test App's field names in the table.",
        auth: "HTTP Header: `Authorization: Bearer <token>`",
        connect: &[
            "Okta Admin Console → Applications → Applications → Create App Integration → SAML 2.0 (or SWA) → give it a name (e.g. \"scimd\") and finish the wizard.",
            "On the app's General tab → App Settings → Edit → Provisioning: select SCIM → Save. A Provisioning tab appears.",
            "Provisioning tab → Integration → Edit: fill in the fields in the table below.",
            "Click Test Connector Configuration: it must list Create Users, Update User Attributes and Push Groups as supported. Save.",
            "Provisioning tab → To App → Edit: enable the actions listed below. Save.",
            "Assignments tab → Assign → Assign to People or Assign to Groups: only assigned users are pushed.",
            "Push Groups tab → + Push Groups → find the groups by name → Save. Groups (and their memberships) arrive only this way.",
            "Catalog alternative: Browse App Catalog → \"SCIM 2.0 Test App (OAuth Bearer Token)\" → Add; Provisioning → Configure API Integration → Enable API integration, then \"SCIM 2.0 Base Url\" and \"OAuth Bearer Token\" as in the table, Test API Credentials, Save; then steps 5 to 7.",
        ],
        fields: &[
            ("SCIM connector base URL (Test App: SCIM 2.0 Base Url)", "`{base}`"),
            ("Unique identifier field for users", "`userName`"),
            ("Supported provisioning actions", "Push New Users, Push Profile Updates, Push Groups"),
            ("Authentication Mode", "HTTP Header"),
            ("Authorization: Bearer (Test App: OAuth Bearer Token)", TOKEN),
            ("Application username format (Sign On tab)", "Email (so userName is the email address)"),
        ],
        actions: &[
            "Create Users",
            "Update User Attributes",
            "Deactivate Users",
            "Push Groups (the Push Groups tab, per group)",
            "Leave Sync Password off: scimd accepts a password and never stores it.",
        ],
        mapping_note: "Okta → the app's Provisioning tab → To App → Attribute Mappings (Okta user profile → app). The defaults cover these rows; add the address and phone rows if local apps need them.",
        attributes: [
            "app username (`userName`, per the username format; usually `user.email`)",
            "`user.firstName`",
            "`user.lastName`",
            "`user.email`",
            "`user.mobilePhone`",
            "`user.primaryPhone`",
            "`user.title`",
            "`user.streetAddress`",
            "`user.city`",
            "`user.state`",
            "`user.zipCode`",
            "`user.countryCode`",
            "assignment status (not a mapping: deactivate or unassign sends `false`)",
            "the Okta user id (`user.id`, sent by Okta, not a mapping)",
        ],
        test: &[
            "Test Connector Configuration (or Test API Credentials on the Test App) reads a first page of `{base}/Users` with the token: a 401 means a wrong token, a 404 a wrong base URL.",
        ],
        traps: &[
            "Suspending a user in Okta does not notify SCIM apps: scimd never hears of it and the user keeps their access. Deactivate the user in Okta, or unassign them from the app; both send `active: false`.",
            "Groups arrive only through Push Groups. Assigning a group to the app pushes its users, not the group: without a push, group mappings (`scimd mapping add`) match nothing.",
            "Usernames are compared case-insensitively, by Okta and by scimd: `Ana@example.com` and `ana@example.com` are one user, and a second create answers 409 `uniqueness`. If Okta reports \"user already exists\", find it with `GET {base}/Users?filter=userName eq \"…\"`.",
            "Okta never DELETEs a user; it deactivates. Removing a group from Push Groups with \"Delete the group in the target app\" sends DELETE for the group.",
            "Okta sends profile updates as PUT of the whole user and membership changes as PATCH on the group (`members[value eq \"…\"]` removes), each followed by a rename: all handled.",
        ],
        on_remove: "Okta sends `active: false` when a user is deactivated in Okta or unassigned from the app, and never a DELETE for users.",
    },
    IdpGuide {
        idp: Idp::Entra,
        intro: "Use a non-gallery Enterprise application in Microsoft Entra ID with automatic provisioning. Entra pushes users and groups assigned to the app over SCIM 2.0 with a bearer token.",
        auth: "Bearer authentication (Secret Token)",
        connect: &[
            "Microsoft Entra admin center (as at least an Application Administrator) → Entra ID → Enterprise apps → + New application → + Create your own application.",
            "Name it (e.g. \"scimd\"), choose \"Integrate any other application you don't find in the gallery (Non-gallery)\" → Create.",
            "In the app: Provisioning (left panel) → + New configuration (older portals: Get started, then Provisioning Mode: Automatic).",
            "Fill in the fields in the table below, click Test connection, then Create (or Save).",
            "Provisioning → Mappings: keep \"Provision Microsoft Entra ID Users\" and \"Provision Microsoft Entra ID Groups\" enabled.",
            "Manage → Users and groups → + Add user/group: add the users and groups to push (the default scope is \"Sync only assigned users and groups\").",
            "Provisioning overview → Start provisioning (Provisioning Status: On).",
        ],
        fields: &[
            ("Provisioning Mode", "Automatic"),
            ("Select authentication method", "Bearer authentication"),
            ("Tenant URL", "`{base}`"),
            ("Secret Token", TOKEN),
            ("Notification Email", "an address that should hear about quarantine"),
        ],
        actions: &[
            "Each mapping's Target Object Actions: Create, Update, Delete",
            "Provisioning Status: On",
            "Scope: Sync only assigned users and groups",
        ],
        mapping_note: "Entra → the app → Provisioning → Mappings → Provision Microsoft Entra ID Users → Attribute Mapping (Entra attribute → customappsso attribute). The non-gallery defaults are these rows.",
        attributes: [
            "`userPrincipalName`",
            "`givenName`",
            "`surname`",
            "`mail`",
            "`mobile`",
            "`telephoneNumber`",
            "`jobTitle`",
            "`streetAddress`",
            "`city`",
            "`state`",
            "`postalCode`",
            "`country`",
            "`Switch([IsSoftDeleted], , \"False\", \"True\", \"True\", \"False\")`",
            "`mailNickname`",
        ],
        test: &[
            "Test connection sends `GET {base}/Users?filter=userName eq \"<a random id>\"` and expects 200 with an empty list; a 401 means a wrong Secret Token, a 404 a wrong Tenant URL.",
        ],
        traps: &[
            "Entra syncs about every 40 minutes, not in real time; the first cycle over many users takes longer. For one user now, use Provision on demand on the app's Provisioning page.",
            "Entra's PATCH dialect is handled: capitalised ops (`Replace`), booleans as strings (`\"False\"`), `emails[type eq \"work\"].value` paths that create the element, member removal with a value array. Do not add the `aadOptscim062020` feature flag; it is not needed.",
            "Only assigned users and groups are pushed; a user in a nested group of an assigned group is not.",
            "After repeated failures Entra puts the app in quarantine and slows down; fix the cause (see `scimd audit {id}`), then Restart provisioning.",
            "Group names need not be unique in Entra; in scimd neither (groups are matched by id and externalId).",
        ],
        on_remove: "Entra sends `active: false` when a user is disabled, unassigned or soft-deleted (the `IsSoftDeleted` mapping), and DELETE when the user is deleted for good (30 days after a soft delete).",
    },
    IdpGuide {
        idp: Idp::JumpCloud,
        intro: "Use a JumpCloud SSO application with Identity Management (SCIM) turned on: a catalog app's Identity Management tab, or a Custom SCIM integration for one not in the catalog.",
        auth: "Bearer token (Token Key)",
        connect: &[
            "JumpCloud Admin Portal → SSO Applications → + Add New Application → pick the app (or \"Custom Application\" with Identity Management), name it (e.g. \"scimd\") → Save.",
            "Open the app → Identity Management tab → Configure, and fill in the fields in the table below.",
            "Tick \"Enable management of User Groups and Group Membership in this application\" to push groups.",
            "Click Test Connection; JumpCloud creates and deletes a test user and a test group to check the endpoint. Then Activate and Save.",
            "User Groups tab: bind the groups whose users should be pushed → Save.",
        ],
        fields: &[
            ("SCIM Version", "SCIM 2.0"),
            ("Base URL", "`{base}`"),
            ("Token Key", TOKEN),
            ("Test User Email", "an address in your domain (used for the test user)"),
            ("Enable management of User Groups and Group Membership", "ticked"),
        ],
        actions: &[
            "Provisioning (create users)",
            "Updates (user attributes)",
            "Deprovisioning (deactivate users)",
            "Group management (the checkbox above)",
        ],
        mapping_note: "JumpCloud maps its user properties to SCIM itself; a catalog app's Identity Management tab lists the mapping. These are the JumpCloud properties behind each row.",
        attributes: [
            "`username` (or `email`)",
            "`firstname`",
            "`lastname`",
            "`email`",
            "`phoneNumbers` (type mobile)",
            "`phoneNumbers` (type work)",
            "`jobTitle`",
            "`addresses.streetAddress` (type work)",
            "`addresses.locality` (type work)",
            "`addresses.region` (type work)",
            "`addresses.postalCode` (type work)",
            "`addresses.country` (type work)",
            "`state` (ACTIVATED → true, SUSPENDED → false)",
            "the JumpCloud user id (`id`, sent by JumpCloud)",
        ],
        test: &[
            "Test Connection creates a test user (with the Test User Email) and a test group, then deletes them; with delete mode `deactivate` the test user stays as a deprovisioned record until `scimd users purge {id} --deprovisioned-before 0 --yes`.",
        ],
        traps: &[
            "Groups are pushed only with \"Enable management of User Groups and Group Membership\" ticked, and empty groups are never created.",
            "Unbinding a user group from the app stops its sync and deactivates its members unless another bound group still holds them.",
            "JumpCloud takes over an existing group whose name matches a JumpCloud group name.",
            "Suspending a user in JumpCloud sends `active: false`; scimd keeps the user, inactive.",
        ],
        on_remove: "JumpCloud sends `active: false` when a user is suspended or loses access to the app, and DELETE when the user is deleted in JumpCloud.",
    },
    IdpGuide {
        idp: Idp::OneLogin,
        intro: "Use the OneLogin catalog app \"SCIM Provisioner with SAML (SCIM v2 Enterprise)\". OneLogin builds each user's body from the app's SCIM JSON Template; its SCIM 1.1 schema names beside the 2.0 ones are accepted.",
        auth: "Bearer token (SCIM Bearer Token)",
        connect: &[
            "OneLogin Administration → Applications → Applications → Add App → search \"SCIM Provisioner with SAML (SCIM v2 Enterprise)\" → name it (e.g. \"scimd\") → Save.",
            "Configuration tab: fill in the fields in the table below → Save.",
            "Under API Connection click Enable; the status must turn to Enabled.",
            "Provisioning tab: tick Enable provisioning; untick \"Require admin approval before this action is performed\" for Create user, Delete user and Update user (or approve each change by hand); choose the actions below → Save.",
            "Parameters tab → Groups → tick \"Include in User Provisioning\" to push group memberships.",
            "Users tab (or a role or rule): give users access to the app; OneLogin pushes them.",
        ],
        fields: &[
            ("SCIM Base URL", "`{base}`"),
            ("SCIM Bearer Token", TOKEN),
            ("SCIM JSON Template", "keep the default (add address and phone lines if needed)"),
            ("SCIM Username (Parameters)", "Email"),
        ],
        actions: &[
            "Create user",
            "Update user",
            "Delete user",
            "When users are deleted in OneLogin, or the user's app access is removed: Suspend (sends `active: false`) or Delete",
            "When user accounts are suspended in OneLogin: Suspend",
        ],
        mapping_note: "OneLogin → the app → Configuration → SCIM JSON Template, with values from the Parameters tab. These are the OneLogin values to place in each row.",
        attributes: [
            "`{$parameters.scimusername}` (the SCIM Username parameter)",
            "`{$user.firstname}`",
            "`{$user.lastname}`",
            "`{$user.email}`",
            "a custom user field (OneLogin has one standard phone)",
            "`{$user.phone}`",
            "`{$user.title}`",
            "a custom user field",
            "a custom user field",
            "a custom user field",
            "a custom user field",
            "a custom user field",
            "the user's state (suspended → `false`)",
            "`{$user.id}`",
        ],
        test: &[
            "Enabling the API Connection reads `GET {base}/Users` with the token; \"Failed\" means a wrong token or base URL (see `scimd audit {id}` for the refused request).",
        ],
        traps: &[
            "With \"Require admin approval\" left ticked, nothing is pushed until someone approves each entry under Provisioning in OneLogin.",
            "Without \"Include in User Provisioning\" on the Groups parameter, memberships are never sent.",
            "The default template names SCIM 1.1 schemas (`urn:scim:schemas:core:1.0`) beside the 2.0 one: accepted. A template naming only 1.1 schemas is refused (400 \"SCIM 1.1 is not supported\").",
        ],
        on_remove: "OneLogin does what the Provisioning tab says: Suspend sends `active: false`, Delete sends DELETE, Do nothing leaves the user as is.",
    },
    IdpGuide {
        idp: Idp::Ping,
        intro: "Use a PingOne outbound provisioning connection of type SCIM Outbound, and a provisioning rule that says which users and groups go to it. (PingFederate's SCIM Provisioner takes the same values.)",
        auth: "OAuth 2 Bearer Token",
        connect: &[
            "PingOne admin console → Integrations → Provisioning → + (New Connection) → Identity Store → SCIM Outbound → Next.",
            "Name it (e.g. \"scimd\"), then Configure Authentication and Configure Preferences with the fields in the table below; click Test Connection → Save.",
            "Provisioning → Rules → + (New Rule): pick the scimd connection, a user filter (population or group) and, for groups, Group Provisioning with the groups to push → Save.",
            "Turn the connection and the rule on (the toggles beside them).",
        ],
        fields: &[
            ("SCIM BASE URL", "`{base}`"),
            ("SCIM VERSION", "2.0"),
            ("USERS RESOURCE", "`/Users`"),
            ("GROUPS RESOURCE", "`/Groups`"),
            ("AUTHENTICATION METHOD", "OAuth 2 Bearer Token"),
            ("OAUTH ACCESS TOKEN", TOKEN),
            ("AUTHORIZATION TYPE", "Bearer"),
            ("USER FILTER EXPRESSION", "`userName Eq \"%s\"`"),
            ("USER IDENTIFIER", "`userName`"),
            ("REMOVE ACTION", "Disable (sends `active: false`) or Delete"),
        ],
        actions: &[
            "Allow Users to be Created",
            "Allow Users to be Updated",
            "Allow Users to be Disabled (or Deprovisioned)",
            "Group Provisioning in the rule",
        ],
        mapping_note: "PingOne → Provisioning → the rule → Attribute Mapping (PingOne attribute → SCIM attribute). These are the PingOne directory attributes behind each row.",
        attributes: [
            "`username`",
            "`name.given`",
            "`name.family`",
            "`email`",
            "`mobilePhone`",
            "`primaryPhone`",
            "`title`",
            "`address.streetAddress`",
            "`address.locality`",
            "`address.region`",
            "`address.postalCode`",
            "`address.countryCode`",
            "`enabled`",
            "`id` (the PingOne user id)",
        ],
        test: &[
            "Test Connection reads `GET {base}/Users` with the token; a failure names the HTTP status (401: token, 404: base URL).",
        ],
        traps: &[
            "The user filter expression must name `userName`; PingOne looks users up with it before creating them, and a filter on an attribute scimd cannot filter is 400 `invalidFilter`.",
            "A user outside every rule's filter is not pushed; one that leaves the filter gets the Remove Action.",
        ],
        on_remove: "PingOne applies the connection's Remove Action when a user is deleted or leaves the rule: Disable sends `active: false`, Delete sends DELETE.",
    },
    IdpGuide {
        idp: Idp::Google,
        intro: "Google Workspace pushes users over SCIM only to catalog apps that offer automatic user provisioning; a custom SAML app has no provisioning settings and cannot push to scimd. Use these steps with a catalog app whose provisioning points at a SCIM base URL and bearer token, or a provisioning broker between Google and scimd.",
        auth: "Access token (bearer)",
        connect: &[
            "Google Admin console → Apps → Web and mobile apps → the app → Auto-provisioning → Set up auto-provisioning.",
            "Enter the fields in the table below → Continue.",
            "Check the attribute mapping (the rows below) → Continue.",
            "Provisioning scope: the groups whose members get the app → Continue.",
            "Deprovisioning: choose when users are removed (app turned off for them, suspended, deleted) → Finish.",
            "Turn auto-provisioning ON (the toggle on the Auto-provisioning card).",
        ],
        fields: &[
            ("Endpoint URL", "`{base}`"),
            ("Access token", TOKEN),
        ],
        actions: &[
            "Auto-provisioning: ON",
            "Deprovisioning: when the app is turned off for a user, when a user is suspended, when a user is deleted",
        ],
        mapping_note: "Google → the app → Auto-provisioning → Attribute mapping (Google Directory attribute → app attribute).",
        attributes: [
            "Basic information → Primary email",
            "Basic information → First name",
            "Basic information → Last name",
            "Basic information → Primary email",
            "Contact information → Phone (mobile)",
            "Contact information → Phone (work)",
            "Employee details → Job title",
            "Contact information → Address (work) → Street address",
            "Contact information → Address (work) → City",
            "Contact information → Address (work) → Region",
            "Contact information → Address (work) → Postal code",
            "Contact information → Address (work) → Country",
            "suspension status (suspended → `false`)",
            "the Google user id (sent by Google)",
        ],
        test: &[
            "Google checks the endpoint and token when you finish the setup; a failure there is usually a 401 (token) or an unreachable URL.",
        ],
        traps: &[
            "Custom SAML apps cannot auto-provision: Google offers SCIM provisioning only for catalog apps that support it.",
            "Provisioning is not real time: a change can take several hours to arrive, and the first run longer.",
            "Only users in the provisioning scope are pushed; Google groups are not pushed as SCIM groups.",
        ],
        on_remove: "Google applies the Deprovisioning settings: `active: false` or DELETE when the app is turned off for a user, the user is suspended or deleted (after the delay you chose).",
    },
    IdpGuide {
        idp: Idp::Generic,
        intro: "Any SCIM 2.0 client (RFC 7644) can push to scimd: it needs the base URL, a bearer token, and `userName` as the unique identifier.",
        auth: "HTTP header `Authorization: Bearer <token>`",
        connect: &[
            "In the client's provisioning settings, choose SCIM 2.0 with bearer-token authentication.",
            "Enter the fields in the table below, run its connection test and save.",
            "Choose which users and groups it pushes, and turn provisioning on.",
        ],
        fields: &[
            ("SCIM base URL (a.k.a. endpoint, tenant URL)", "`{base}`"),
            ("Bearer token", TOKEN),
            ("User identifier / matching attribute", "`userName`"),
            ("Group matching attribute", "`displayName` or `externalId`"),
        ],
        actions: &[
            "Create users",
            "Update users (PUT or PATCH)",
            "Deactivate users (`active: false`)",
            "Create groups and update memberships (PATCH `members`)",
        ],
        mapping_note: "scimd reads the RFC 7643 core User and the Enterprise User extension; map the client's attributes to these SCIM names.",
        attributes: [
            "`userName`",
            "`name.givenName`",
            "`name.familyName`",
            "`emails[type eq \"work\"].value`",
            "`phoneNumbers[type eq \"mobile\"].value`",
            "`phoneNumbers[type eq \"work\"].value`",
            "`title`",
            "`addresses[type eq \"work\"].streetAddress`",
            "`addresses[type eq \"work\"].locality`",
            "`addresses[type eq \"work\"].region`",
            "`addresses[type eq \"work\"].postalCode`",
            "`addresses[type eq \"work\"].country`",
            "`active`",
            "`externalId`",
        ],
        test: &[
            "By hand: `curl -s -H \"Authorization: Bearer $TOKEN\" '{base}/Users?count=1'` answers 200 with an empty or short list; 401 means a wrong token, 404 a wrong base URL.",
        ],
        traps: &[
            "The base URL is `{base}` with no `/v2` and nothing after it; the client appends `/Users` and `/Groups`.",
            "`userName` is unique per integration, case-insensitively: a second create differing only in case is 409 `uniqueness`.",
            "SCIM 1.1-only clients are refused (400 \"SCIM 1.1 is not supported; send SCIM 2.0\").",
        ],
        on_remove: "What the client sends decides: `active: false` for a deactivation, DELETE for a removal.",
    },
];
