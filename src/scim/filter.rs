//! The SCIM filter language of RFC 7644 §3.4.2.2: a tokenizer, a
//! recursive-descent parser that builds a [`Filter`] tree, a canonical printer
//! whose output the parser reads back, and an in-memory matcher for the one
//! place filters run outside SQL (PATCH value filters on one element of a
//! multi-valued attribute). Parsing is bounded in length, nesting and number of
//! comparisons so no client input can exhaust the stack, and every error names
//! the column at fault. Where an IdP breaks the grammar in a way that has one
//! obvious meaning (see [`parse_with_dialects`]), the parser reads that
//! meaning into the ordinary tree and reports the dialect by name.
//! Pure: no I/O; the SQL compiler lives in the store.

use crate::scim::attrpath::{is_attr_name, AttrPath};
use crate::scim::error::ScimError;
use serde_json::{Map, Number, Value};
use std::cmp::Ordering;
use std::fmt;

/// Longest filter accepted, in characters.
pub const MAX_FILTER_LEN: usize = 4096;
/// Deepest nesting of `(…)`, `not (…)` and `[…]` accepted.
pub const MAX_DEPTH: usize = 10;
/// Most attribute expressions (comparisons and `pr`) in one filter.
pub const MAX_COMPARISONS: usize = 50;

/// The comparison operators of RFC 7644 Table 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareOp {
    Eq,
    Ne,
    Co,
    Sw,
    Ew,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    pub fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "eq",
            CompareOp::Ne => "ne",
            CompareOp::Co => "co",
            CompareOp::Sw => "sw",
            CompareOp::Ew => "ew",
            CompareOp::Gt => "gt",
            CompareOp::Ge => "ge",
            CompareOp::Lt => "lt",
            CompareOp::Le => "le",
        }
    }

    /// The operator a keyword names, case-insensitively.
    pub fn from_keyword(word: &str) -> Option<CompareOp> {
        const ALL: [CompareOp; 9] = [
            CompareOp::Eq,
            CompareOp::Ne,
            CompareOp::Co,
            CompareOp::Sw,
            CompareOp::Ew,
            CompareOp::Gt,
            CompareOp::Ge,
            CompareOp::Lt,
            CompareOp::Le,
        ];
        ALL.into_iter()
            .find(|op| word.eq_ignore_ascii_case(op.as_str()))
    }

    /// `gt ge lt le`: the operators that need an ordered value.
    pub fn is_ordering(self) -> bool {
        matches!(
            self,
            CompareOp::Gt | CompareOp::Ge | CompareOp::Lt | CompareOp::Le
        )
    }
}

impl fmt::Display for CompareOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `compValue` of the ABNF. Dates are strings here; the schema decides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    Str(String),
    Num(Number),
    Bool(bool),
    Null,
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Literal::Str(s) => write_json_string(f, s),
            Literal::Num(n) => write!(f, "{n}"),
            Literal::Bool(b) => write!(f, "{b}"),
            Literal::Null => f.write_str("null"),
        }
    }
}

fn write_json_string(f: &mut fmt::Formatter<'_>, s: &str) -> fmt::Result {
    f.write_str("\"")?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\r' => f.write_str("\\r")?,
            '\t' => f.write_str("\\t")?,
            '\u{8}' => f.write_str("\\b")?,
            '\u{c}' => f.write_str("\\f")?,
            c if u32::from(c) < 0x20 => write!(f, "\\u{:04x}", u32::from(c))?,
            c => write!(f, "{c}")?,
        }
    }
    f.write_str("\"")
}

/// A parsed filter. `col` is the 1-based character column where the node's
/// attribute path starts, kept for error messages of later stages (unknown
/// attribute, unsupported comparison).
///
/// Equality (`==`) ignores `col`: two filters are equal when they say the same
/// thing, wherever it was written.
#[derive(Debug, Clone)]
pub enum Filter {
    Compare {
        path: AttrPath,
        op: CompareOp,
        value: Literal,
        col: usize,
    },
    Present {
        path: AttrPath,
        col: usize,
    },
    And(Box<Filter>, Box<Filter>),
    Or(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    /// `path[filter]`: `path.sub` is `None` and the paths inside `filter` are
    /// relative to one element of the multi-valued attribute.
    ValuePath {
        path: AttrPath,
        filter: Box<Filter>,
        col: usize,
    },
}

impl PartialEq for Filter {
    fn eq(&self, other: &Self) -> bool {
        use Filter::*;
        match (self, other) {
            (
                Compare {
                    path: p1,
                    op: o1,
                    value: v1,
                    ..
                },
                Compare {
                    path: p2,
                    op: o2,
                    value: v2,
                    ..
                },
            ) => p1 == p2 && o1 == o2 && v1 == v2,
            (Present { path: p1, .. }, Present { path: p2, .. }) => p1 == p2,
            (And(a1, b1), And(a2, b2)) | (Or(a1, b1), Or(a2, b2)) => a1 == a2 && b1 == b2,
            (Not(a1), Not(a2)) => a1 == a2,
            (
                ValuePath {
                    path: p1,
                    filter: f1,
                    ..
                },
                ValuePath {
                    path: p2,
                    filter: f2,
                    ..
                },
            ) => p1 == p2 && f1 == f2,
            _ => false,
        }
    }
}

impl Eq for Filter {}

impl Filter {
    /// Column of the first attribute path in this node.
    pub fn col(&self) -> usize {
        match self {
            Filter::Compare { col, .. }
            | Filter::Present { col, .. }
            | Filter::ValuePath { col, .. } => *col,
            Filter::And(a, _) | Filter::Or(a, _) | Filter::Not(a) => a.col(),
        }
    }
}

/// Prints the canonical form: lower-case keywords, one space between tokens,
/// and parentheses exactly where the tree's shape differs from what
/// precedence (not > and > or) and left-associativity would give.
impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Filter::Compare {
                path, op, value, ..
            } => write!(f, "{path} {op} {value}"),
            Filter::Present { path, .. } => write!(f, "{path} pr"),
            Filter::ValuePath { path, filter, .. } => write!(f, "{path}[{filter}]"),
            Filter::Not(inner) => write!(f, "not ({inner})"),
            Filter::And(l, r) => {
                write_operand(f, l, !matches!(**l, Filter::Or(..)))?;
                f.write_str(" and ")?;
                write_operand(f, r, !matches!(**r, Filter::And(..) | Filter::Or(..)))
            }
            Filter::Or(l, r) => {
                write_operand(f, l, true)?;
                f.write_str(" or ")?;
                write_operand(f, r, !matches!(**r, Filter::Or(..)))
            }
        }
    }
}

fn write_operand(f: &mut fmt::Formatter<'_>, x: &Filter, bare: bool) -> fmt::Result {
    if bare {
        write!(f, "{x}")
    } else {
        write!(f, "({x})")
    }
}

/// Parses a `filter` query parameter (or search body field).
/// Errors are 400 `invalidFilter` with a detail naming the column at fault.
pub fn parse(input: &str) -> Result<Filter, ScimError> {
    parse_with_dialects(input).map(|(f, _)| f)
}

/// [`parse`], also returning the short names of the IdP dialects the parser
/// had to accept (each once, in the order met), for the caller to log:
/// * `value_filter_sub_attribute`: Entra's `emails[type eq "work"].value eq "x"`,
///   read as `emails[type eq "work" and value eq "x"]` (and `….value pr` as
///   `emails[type eq "work" and value pr]`), so it compiles to the same SQL;
/// * `unquoted_value`: a bare word as the value, `userName eq bjensen`, read as
///   the string `"bjensen"`. Only a word that starts with a letter and is not
///   `true`, `false`, `null`, `and`, `or` or `not` qualifies, so a missing
///   value or a malformed number keeps its precise error.
pub fn parse_with_dialects(input: &str) -> Result<(Filter, Vec<&'static str>), ScimError> {
    parse_filter(input).map_err(ScimError::invalid_filter)
}

fn parse_filter(input: &str) -> Result<(Filter, Vec<&'static str>), String> {
    let len = check_length(input, "filter")?;
    let toks = tokenize(input)?;
    if toks.is_empty() {
        return Err("filter is empty".into());
    }
    let mut p = Parser::new(&toks, len + 1);
    let f = p.or_expr(false)?;
    if let Some(t) = p.peek() {
        return Err(unexpected_at_top(t));
    }
    Ok((f, p.dialects))
}

/// Rejects over-long input before any other work; returns the length in chars.
pub(crate) fn check_length(input: &str, what: &str) -> Result<usize, String> {
    // `take` keeps a huge input from being counted to the end.
    let len = input.chars().take(MAX_FILTER_LEN + 1).count();
    if len > MAX_FILTER_LEN {
        Err(format!("{what} is longer than {MAX_FILTER_LEN} characters"))
    } else {
        Ok(len)
    }
}

// ---------------------------------------------------------------- tokens

/// A lexical token. Attribute paths, keywords, numbers and the literals
/// true/false/null are all `Word`s: which one a word is depends on where the
/// parser meets it, which keeps attribute names such as `not` or `pr` usable.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    LParen,
    RParen,
    LBracket,
    RBracket,
    Str(String),
    Word(String),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Token {
    pub(crate) tok: Tok,
    /// 1-based character column of the token's first character.
    pub(crate) col: usize,
}

fn ends_word(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '[' | ']' | '"')
}

/// Splits input into tokens. Any run of whitespace separates tokens, and
/// brackets and quotes need none around them (`a eq"x"and(b pr)` is read), as
/// IdPs are not all careful about spacing.
pub(crate) fn tokenize(input: &str) -> Result<Vec<Token>, String> {
    // Columns are in characters, so index a char vector, never the bytes.
    let chars: Vec<char> = input.chars().collect();
    let mut toks = Vec::new();
    let mut i = 0;
    while let Some(&c) = chars.get(i) {
        let col = i + 1;
        let tok = match c {
            c if c.is_whitespace() => {
                i += 1;
                continue;
            }
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            '[' => Tok::LBracket,
            ']' => Tok::RBracket,
            '"' => {
                let (s, next) = lex_string(&chars, i)?;
                i = next;
                toks.push(Token {
                    tok: Tok::Str(s),
                    col,
                });
                continue;
            }
            _ => {
                let start = i;
                while chars.get(i).is_some_and(|&c| !ends_word(c)) {
                    i += 1;
                }
                let word: String = chars.get(start..i).unwrap_or_default().iter().collect();
                toks.push(Token {
                    tok: Tok::Word(word),
                    col,
                });
                continue;
            }
        };
        i += 1;
        toks.push(Token { tok, col });
    }
    Ok(toks)
}

/// Reads the JSON string whose opening quote is at `open`; returns the decoded
/// text and the index just past the closing quote.
fn lex_string(chars: &[char], open: usize) -> Result<(String, usize), String> {
    let unterminated = || format!("unterminated string starting at column {}", open + 1);
    let mut out = String::new();
    let mut i = open + 1;
    loop {
        let c = *chars.get(i).ok_or_else(unterminated)?;
        if c == '"' {
            return Ok((out, i + 1));
        }
        if c != '\\' {
            // Raw control characters are not JSON, but rejecting them would
            // only punish sloppy clients; the printer escapes them.
            out.push(c);
            i += 1;
            continue;
        }
        let esc_col = i + 1;
        let e = *chars.get(i + 1).ok_or_else(unterminated)?;
        i += 2;
        let decoded = match e {
            '"' => '"',
            '\\' => '\\',
            '/' => '/',
            'b' => '\u{8}',
            'f' => '\u{c}',
            'n' => '\n',
            'r' => '\r',
            't' => '\t',
            'u' => {
                let hi = hex4(chars, i).ok_or_else(|| {
                    format!("invalid \\u escape at column {esc_col}: expected four hex digits")
                })?;
                i += 4;
                let combined = if (0xD800..0xDC00).contains(&hi) {
                    let lo = (chars.get(i) == Some(&'\\') && chars.get(i + 1) == Some(&'u'))
                        .then(|| hex4(chars, i + 2))
                        .flatten()
                        .filter(|lo| (0xDC00..0xE000).contains(lo));
                    lo.and_then(|lo| {
                        i += 6;
                        char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                    })
                } else {
                    // A lone low surrogate is not a char and gives None.
                    char::from_u32(hi)
                };
                combined.ok_or_else(|| {
                    format!("unpaired UTF-16 surrogate in \\u escape at column {esc_col}")
                })?
            }
            other => return Err(format!("invalid escape '\\{other}' at column {esc_col}")),
        };
        out.push(decoded);
    }
}

fn hex4(chars: &[char], at: usize) -> Option<u32> {
    let digits = chars.get(at..at.checked_add(4)?)?;
    digits
        .iter()
        .try_fold(0u32, |acc, c| Some(acc * 16 + c.to_digit(16)?))
}

/// How a token reads in an error message.
pub(crate) fn describe(t: Option<&Token>) -> String {
    match t.map(|t| &t.tok) {
        None => "the end of the input".into(),
        Some(Tok::LParen) => "'('".into(),
        Some(Tok::RParen) => "')'".into(),
        Some(Tok::LBracket) => "'['".into(),
        Some(Tok::RBracket) => "']'".into(),
        Some(Tok::Str(_)) => "a string".into(),
        Some(Tok::Word(w)) => format!("'{}'", shorten(w)),
    }
}

/// Cuts a client's word so an error detail stays readable whatever was sent.
pub(crate) fn shorten(w: &str) -> String {
    const MAX: usize = 40;
    if w.chars().count() > MAX {
        let cut: String = w.chars().take(MAX).collect();
        format!("{cut}…")
    } else {
        w.to_string()
    }
}

fn unexpected_at_top(t: &Token) -> String {
    match &t.tok {
        Tok::RParen | Tok::RBracket => {
            format!("unexpected {} at column {}", describe(Some(t)), t.col)
        }
        _ => format!(
            "expected 'and' or 'or' at column {}, found {}",
            t.col,
            describe(Some(t))
        ),
    }
}

/// Parses one attribute path word; `col` is where it starts.
pub(crate) fn parse_attr_path(word: &str, col: usize) -> Result<AttrPath, String> {
    AttrPath::parse(word).map_err(|e| format!("{e} (at column {col})"))
}

// ---------------------------------------------------------------- parser

/// Recursive descent over the token list. Grammar, loosest first:
///
/// ```text
/// or    = and *("or" and)
/// and   = unary *("and" unary)
/// unary = "not" "(" or ")" / "(" or ")" / attrPath ( "pr" / compareOp value / "[" or "]" )
/// ```
///
/// Recursion only happens through `(`, `not (` and `[`, and each of those
/// counts against `MAX_DEPTH` before descending, so the stack is bounded.
pub(crate) struct Parser<'t> {
    toks: &'t [Token],
    pos: usize,
    end_col: usize,
    depth: usize,
    /// Deepest `depth` reached since it was last reset; see `value_path`.
    peak: usize,
    comparisons: usize,
    /// IdP dialects accepted so far, each once.
    pub(crate) dialects: Vec<&'static str>,
}

impl<'t> Parser<'t> {
    /// `end_col` is the column just past the input, reported when it ends early.
    pub(crate) fn new(toks: &'t [Token], end_col: usize) -> Self {
        Parser {
            toks,
            pos: 0,
            end_col,
            depth: 0,
            peak: 0,
            comparisons: 0,
            dialects: Vec::new(),
        }
    }

    fn dialect(&mut self, name: &'static str) {
        if !self.dialects.contains(&name) {
            self.dialects.push(name);
        }
    }

    pub(crate) fn peek(&self) -> Option<&'t Token> {
        self.toks.get(self.pos)
    }

    pub(crate) fn bump(&mut self) -> Option<&'t Token> {
        let t = self.toks.get(self.pos);
        if t.is_some() {
            self.pos += 1;
        }
        t
    }

    /// Column of the next token, or just past the end.
    fn here(&self) -> usize {
        self.peek().map_or(self.end_col, |t| t.col)
    }

    fn peek_is(&self, tok: &Tok) -> bool {
        self.peek().is_some_and(|t| &t.tok == tok)
    }

    fn eat_keyword(&mut self, kw: &str) -> bool {
        match self.peek() {
            Some(Token {
                tok: Tok::Word(w), ..
            }) if w.eq_ignore_ascii_case(kw) => {
                self.pos += 1;
                true
            }
            _ => false,
        }
    }

    fn enter(&mut self, col: usize) -> Result<(), String> {
        self.depth += 1;
        self.peak = self.peak.max(self.depth);
        if self.depth > MAX_DEPTH {
            Err(format!(
                "filter nests deeper than {MAX_DEPTH} levels (at column {col})"
            ))
        } else {
            Ok(())
        }
    }

    fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    fn count_comparison(&mut self, col: usize) -> Result<(), String> {
        self.comparisons += 1;
        if self.comparisons > MAX_COMPARISONS {
            Err(format!(
                "filter has more than {MAX_COMPARISONS} comparisons (the next one is at column {col})"
            ))
        } else {
            Ok(())
        }
    }

    /// `inner` is true inside `[…]`, where value paths may not nest.
    fn or_expr(&mut self, inner: bool) -> Result<Filter, String> {
        let mut left = self.and_expr(inner)?;
        while self.eat_keyword("or") {
            let right = self.and_expr(inner)?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and_expr(&mut self, inner: bool) -> Result<Filter, String> {
        let mut left = self.unary(inner)?;
        while self.eat_keyword("and") {
            let right = self.unary(inner)?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self, inner: bool) -> Result<Filter, String> {
        let Some(t) = self.peek() else {
            return Err(format!(
                "expected an attribute path, 'not' or '(' at column {}, found the end of the input",
                self.end_col
            ));
        };
        match &t.tok {
            Tok::LParen => {
                self.pos += 1;
                self.group(t.col, inner)
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("not") => {
                let next = self.toks.get(self.pos + 1);
                match next.map(|n| &n.tok) {
                    Some(Tok::LParen) => {
                        self.pos += 2;
                        let col = next.map_or(t.col, |n| n.col);
                        Ok(Filter::Not(Box::new(self.group(col, inner)?)))
                    }
                    // An attribute that happens to be called "not".
                    Some(Tok::Word(op))
                        if op.eq_ignore_ascii_case("pr") || CompareOp::from_keyword(op).is_some() =>
                    {
                        self.pos += 1;
                        self.attr_expr(w, t.col, inner)
                    }
                    Some(Tok::LBracket) => {
                        self.pos += 1;
                        self.attr_expr(w, t.col, inner)
                    }
                    _ => Err(format!(
                        "'not' at column {} must be followed by a filter in parentheses, e.g. not (title pr); found {} at column {}",
                        t.col,
                        describe(next),
                        next.map_or(self.end_col, |n| n.col)
                    )),
                }
            }
            Tok::Word(w) => {
                self.pos += 1;
                self.attr_expr(w, t.col, inner)
            }
            _ => Err(format!(
                "expected an attribute path, 'not' or '(' at column {}, found {}",
                t.col,
                describe(Some(t))
            )),
        }
    }

    /// After an opening parenthesis at `open_col`.
    fn group(&mut self, open_col: usize, inner: bool) -> Result<Filter, String> {
        self.enter(open_col)?;
        let f = self.or_expr(inner)?;
        self.close(&Tok::RParen, ')', '(', open_col)?;
        self.leave();
        Ok(f)
    }

    fn close(&mut self, tok: &Tok, close: char, open: char, open_col: usize) -> Result<(), String> {
        if self.peek_is(tok) {
            self.pos += 1;
            return Ok(());
        }
        match self.peek() {
            None => Err(format!(
                "missing '{close}' for the '{open}' at column {open_col}"
            )),
            Some(t) => Err(format!(
                "expected 'and', 'or' or '{close}' at column {}, found {} (the '{open}' at column {open_col} is still open)",
                t.col,
                describe(Some(t))
            )),
        }
    }

    /// `[ valFilter ]`, starting at the `[`. Used for filters and PATCH paths.
    pub(crate) fn bracket(&mut self) -> Result<Filter, String> {
        let open_col = self.here();
        if !self.peek_is(&Tok::LBracket) {
            return Err(format!(
                "expected '[' at column {open_col}, found {}",
                describe(self.peek())
            ));
        }
        self.pos += 1;
        self.enter(open_col)?;
        let f = self.or_expr(true)?;
        self.close(&Tok::RBracket, ']', '[', open_col)?;
        self.leave();
        Ok(f)
    }

    fn attr_expr(&mut self, word: &str, col: usize, inner: bool) -> Result<Filter, String> {
        let path = parse_attr_path(word, col)?;
        let word = shorten(word);
        match self.peek() {
            Some(Token {
                tok: Tok::LBracket,
                col: open_col,
            }) => {
                if inner {
                    return Err(format!(
                        "value filters cannot be nested: '[' at column {open_col} is inside another value filter"
                    ));
                }
                if let Some(sub) = &path.sub {
                    return Err(format!(
                        "a value filter '[' must follow an attribute without a sub-attribute, but '{word}' at column {col} has '.{sub}'"
                    ));
                }
                self.value_path(path, col)
            }
            _ => self.comparison(path, col, &word),
        }
    }

    /// `path[valFilter]`, at the `[`, and Entra's `path[valFilter].sub OP
    /// value` (or `.sub pr`), which is rewritten to `path[valFilter and sub OP
    /// value]`: the same tree the bracket form gives, so it runs on the same
    /// SQL, and the printer writes the bracket form.
    fn value_path(&mut self, path: AttrPath, col: usize) -> Result<Filter, String> {
        let outer_peak = self.peak;
        self.peak = self.depth;
        let filter = self.bracket()?;
        let inner_peak = self.peak;
        self.peak = outer_peak.max(inner_peak);
        let filter = match self.peek() {
            Some(Token {
                tok: Tok::Word(w),
                col: dot_col,
            }) if w.starts_with('.') => {
                let name = w.get(1..).unwrap_or_default();
                let sub_col = dot_col + 1;
                if !is_attr_name(name) {
                    return Err(format!(
                        "'{}' at column {sub_col} is not a valid sub-attribute name after a value filter",
                        shorten(name)
                    ));
                }
                // `(a or b) and sub …` prints one level deeper than the
                // brackets were written; refuse what could not be read back.
                if matches!(filter, Filter::Or(..)) && inner_peak + 1 > MAX_DEPTH {
                    return Err(format!(
                        "filter nests deeper than {MAX_DEPTH} levels (at column {sub_col})"
                    ));
                }
                self.pos += 1;
                let sub = self.comparison(AttrPath::simple(name), sub_col, &shorten(name))?;
                self.dialect("value_filter_sub_attribute");
                Filter::And(Box::new(filter), Box::new(sub))
            }
            _ => filter,
        };
        Ok(Filter::ValuePath {
            path,
            filter: Box::new(filter),
            col,
        })
    }

    /// `pr` or `compareOp value` after the attribute path `path` (written
    /// `word`, at `col`).
    fn comparison(&mut self, path: AttrPath, col: usize, word: &str) -> Result<Filter, String> {
        let Some(t) = self.peek() else {
            return Err(format!(
                "expected a comparison operator after '{word}' at column {}, found the end of the input",
                self.end_col
            ));
        };
        match &t.tok {
            Tok::Word(op_word) if op_word.eq_ignore_ascii_case("pr") => {
                self.pos += 1;
                self.count_comparison(col)?;
                Ok(Filter::Present { path, col })
            }
            Tok::Word(op_word) => {
                let Some(op) = CompareOp::from_keyword(op_word) else {
                    return Err(format!(
                        "expected a comparison operator after '{word}' at column {}, found {}",
                        t.col,
                        describe(Some(t))
                    ));
                };
                self.pos += 1;
                let value = self.literal(op, t.col)?;
                if op.is_ordering() && matches!(value, Literal::Bool(_) | Literal::Null) {
                    return Err(format!(
                        "'{op}' at column {} cannot compare with {value}: ordering needs a string, number or date",
                        t.col
                    ));
                }
                self.count_comparison(col)?;
                Ok(Filter::Compare {
                    path,
                    op,
                    value,
                    col,
                })
            }
            _ => Err(format!(
                "expected a comparison operator after '{word}' at column {}, found {}",
                t.col,
                describe(Some(t))
            )),
        }
    }

    fn literal(&mut self, op: CompareOp, op_col: usize) -> Result<Literal, String> {
        let expected = "a string in double quotes, a number, true, false or null";
        let Some(t) = self.bump() else {
            return Err(format!(
                "expected a value ({expected}) after '{op}' at column {op_col}, found the end of the input"
            ));
        };
        match &t.tok {
            Tok::Str(s) => Ok(Literal::Str(s.clone())),
            Tok::Word(w) if w.eq_ignore_ascii_case("true") => Ok(Literal::Bool(true)),
            Tok::Word(w) if w.eq_ignore_ascii_case("false") => Ok(Literal::Bool(false)),
            Tok::Word(w) if w.eq_ignore_ascii_case("null") => Ok(Literal::Null),
            Tok::Word(w) if w.starts_with(|c: char| c == '-' || c.is_ascii_digit()) => {
                serde_json::from_str::<Number>(w)
                    .map(Literal::Num)
                    .map_err(|_| format!("'{w}' at column {} is not a valid JSON number", t.col))
            }
            Tok::Word(w) if w.starts_with('\'') => Err(format!(
                "strings must be in double quotes: found {} at column {}",
                shorten(w),
                t.col
            )),
            Tok::Word(w) if is_bare_value(w) => {
                self.dialect("unquoted_value");
                Ok(Literal::Str(w.clone()))
            }
            _ => Err(format!(
                "expected a value ({expected}) after '{op}' at column {}, found {}",
                t.col,
                describe(Some(t))
            )),
        }
    }
}

/// A word read as an unquoted string value: it starts with a letter (so not
/// a number, a quote or punctuation) and is no keyword that would make a
/// broken filter parse as something else (`a eq and b pr`).
fn is_bare_value(w: &str) -> bool {
    w.starts_with(char::is_alphabetic)
        && !["true", "false", "null", "and", "or", "not"]
            .iter()
            .any(|k| w.eq_ignore_ascii_case(k))
}

// ---------------------------------------------------------------- evaluator

/// Does `element` (one JSON object of a multi-valued attribute) match `filter`,
/// whose attribute paths are relative to the element? Attribute names match
/// case-insensitively; string comparison is case-insensitive unless
/// `case_exact(sub_attr_name)` returns true.
///
/// Semantics, chosen to agree with the SQL compiler:
/// * For a primitive element (a multi-valued string array), the path `value`
///   is the element itself.
/// * A path with a schema URN looks under that URN's key when the element has
///   one, as extension attributes nest in a resource.
/// * A multi-valued value matches `eq co sw ew gt ge lt le` when any of its
///   values does; `ne` matches when the attribute is present and none equals.
/// * A missing (or null) attribute matches no comparison; only `not (…)`
///   turns that into a match.
/// * `pr` needs a non-empty value (not null, "", [] or {}); `x eq null` is
///   `not (x pr)` and `x ne null` is `x pr` (RFC 7643 §2.5: unassigned, null
///   and empty are the same state).
/// * Comparisons across types (a string literal against a number) never match;
///   strings order lexicographically, numbers numerically.
/// * `case_exact` is asked about the last name in the path (`type` for
///   `type eq "work"`, `value` for `x.value`).
pub fn matches_element(
    filter: &Filter,
    element: &Value,
    case_exact: &dyn Fn(&str) -> bool,
) -> bool {
    match filter {
        Filter::And(a, b) => {
            matches_element(a, element, case_exact) && matches_element(b, element, case_exact)
        }
        Filter::Or(a, b) => {
            matches_element(a, element, case_exact) || matches_element(b, element, case_exact)
        }
        Filter::Not(a) => !matches_element(a, element, case_exact),
        Filter::Present { path, .. } => candidates(element, path).into_iter().any(has_value),
        Filter::Compare {
            path, op, value, ..
        } => {
            let vals: Vec<&Value> = candidates(element, path)
                .into_iter()
                .filter(|v| !v.is_null())
                .collect();
            let exact = case_exact(path.sub.as_deref().unwrap_or(&path.name));
            match (op, value) {
                (CompareOp::Eq, Literal::Null) => !vals.into_iter().any(has_value),
                (CompareOp::Ne, Literal::Null) => vals.into_iter().any(has_value),
                (_, Literal::Null) => false,
                (CompareOp::Ne, lit) => {
                    !vals.is_empty() && !vals.iter().any(|v| compare(v, CompareOp::Eq, lit, exact))
                }
                (op, lit) => vals.iter().any(|v| compare(v, *op, lit, exact)),
            }
        }
        Filter::ValuePath { path, filter, .. } => candidates(element, path)
            .into_iter()
            .any(|v| matches_element(filter, v, case_exact)),
    }
}

/// The values `path` names in `element`, with arrays flattened so each
/// candidate is one value.
fn candidates<'v>(element: &'v Value, path: &AttrPath) -> Vec<&'v Value> {
    let mut out = Vec::new();
    let Value::Object(map) = element else {
        if path.urn.is_none() && path.sub.is_none() && path.name.eq_ignore_ascii_case("value") {
            push_flat(&mut out, element);
        }
        return out;
    };
    let scope = path
        .urn
        .as_deref()
        .and_then(|urn| get_ci(map, urn))
        .and_then(Value::as_object)
        .unwrap_or(map);
    let Some(v) = get_ci(scope, &path.name) else {
        return out;
    };
    match &path.sub {
        None => push_flat(&mut out, v),
        Some(sub) => {
            let parents: Vec<&Value> = match v {
                Value::Array(items) => items.iter().collect(),
                other => vec![other],
            };
            for parent in parents {
                if let Some(s) = parent.as_object().and_then(|m| get_ci(m, sub)) {
                    push_flat(&mut out, s);
                }
            }
        }
    }
    out
}

fn push_flat<'v>(out: &mut Vec<&'v Value>, v: &'v Value) {
    match v {
        Value::Array(items) => out.extend(items.iter()),
        other => out.push(other),
    }
}

fn get_ci<'m>(map: &'m Map<String, Value>, key: &str) -> Option<&'m Value> {
    map.get(key).or_else(|| {
        map.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v)
    })
}

fn has_value(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        Value::Bool(_) | Value::Number(_) => true,
    }
}

fn compare(v: &Value, op: CompareOp, lit: &Literal, exact: bool) -> bool {
    match (v, lit) {
        (Value::String(actual), Literal::Str(wanted)) => {
            if exact {
                compare_str(actual, op, wanted)
            } else {
                compare_str(&actual.to_lowercase(), op, &wanted.to_lowercase())
            }
        }
        (Value::Number(actual), Literal::Num(wanted)) => {
            let Some(ord) = compare_numbers(actual, wanted) else {
                return false;
            };
            match op {
                CompareOp::Eq => ord == Ordering::Equal,
                CompareOp::Ne => ord != Ordering::Equal,
                CompareOp::Gt => ord == Ordering::Greater,
                CompareOp::Ge => ord != Ordering::Less,
                CompareOp::Lt => ord == Ordering::Less,
                CompareOp::Le => ord != Ordering::Greater,
                CompareOp::Co | CompareOp::Sw | CompareOp::Ew => false,
            }
        }
        (Value::Bool(actual), Literal::Bool(wanted)) => match op {
            CompareOp::Eq => actual == wanted,
            CompareOp::Ne => actual != wanted,
            _ => false,
        },
        _ => false,
    }
}

fn compare_str(actual: &str, op: CompareOp, wanted: &str) -> bool {
    match op {
        CompareOp::Eq => actual == wanted,
        CompareOp::Ne => actual != wanted,
        CompareOp::Co => actual.contains(wanted),
        CompareOp::Sw => actual.starts_with(wanted),
        CompareOp::Ew => actual.ends_with(wanted),
        CompareOp::Gt => actual > wanted,
        CompareOp::Ge => actual >= wanted,
        CompareOp::Lt => actual < wanted,
        CompareOp::Le => actual <= wanted,
    }
}

/// Integers compare exactly; anything involving a float compares as f64.
fn compare_numbers(a: &Number, b: &Number) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return Some(x.cmp(&y));
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return Some(x.cmp(&y));
    }
    a.as_f64()?.partial_cmp(&b.as_f64()?)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

    fn p(s: &str) -> Filter {
        parse(s).unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
    }

    fn err(s: &str) -> String {
        match parse(s) {
            Ok(f) => panic!("{s:?} should not parse, got {f:?}"),
            Err(e) => {
                assert_eq!(e.status, 400);
                assert_eq!(
                    e.scim_type,
                    Some(crate::scim::error::ScimType::InvalidFilter)
                );
                e.detail
            }
        }
    }

    fn path(s: &str) -> AttrPath {
        AttrPath::parse(s).unwrap()
    }

    fn cmp(a: &str, op: CompareOp, v: Literal) -> Filter {
        Filter::Compare {
            path: path(a),
            op,
            value: v,
            col: 0,
        }
    }

    fn s(v: &str) -> Literal {
        Literal::Str(v.into())
    }

    fn pr(a: &str) -> Filter {
        Filter::Present {
            path: path(a),
            col: 0,
        }
    }

    fn and(a: Filter, b: Filter) -> Filter {
        Filter::And(Box::new(a), Box::new(b))
    }

    fn or(a: Filter, b: Filter) -> Filter {
        Filter::Or(Box::new(a), Box::new(b))
    }

    fn not(a: Filter) -> Filter {
        Filter::Not(Box::new(a))
    }

    fn vp(a: &str, f: Filter) -> Filter {
        Filter::ValuePath {
            path: path(a),
            filter: Box::new(f),
            col: 0,
        }
    }

    #[test]
    fn parses_every_example_of_rfc_7644_section_3_4_2_2() {
        let examples = [
            r#"userName Eq "john""#,
            r#"Username eq "john""#,
            r#"userName eq "bjensen""#,
            r#"name.familyName co "O'Malley""#,
            r#"userName sw "J""#,
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "J""#,
            r#"title pr"#,
            r#"meta.lastModified gt "2011-05-13T04:42:34Z""#,
            r#"meta.lastModified ge "2011-05-13T04:42:34Z""#,
            r#"meta.lastModified lt "2011-05-13T04:42:34Z""#,
            r#"meta.lastModified le "2011-05-13T04:42:34Z""#,
            r#"title pr and userType eq "Employee""#,
            r#"title pr or userType eq "Intern""#,
            r#"schemas eq "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User""#,
            r#"userType eq "Employee" and (emails co "example.com" or emails.value co "example.org")"#,
            r#"userType ne "Employee" and not (emails co "example.com" or emails.value co "example.org")"#,
            r#"userType eq "Employee" and (emails.type eq "work")"#,
            r#"userType eq "Employee" and emails[type eq "work" and value co "@example.com"]"#,
            r#"emails[type eq "work" and value co "@example.com"] or ims[type eq "xmpp" and value co "@foo.com"]"#,
        ];
        for e in examples {
            let f = p(e);
            assert_eq!(p(&f.to_string()), f, "{e}");
        }
    }

    #[test]
    fn and_binds_tighter_than_or() {
        assert_eq!(
            p("a pr or b pr and c pr"),
            or(pr("a"), and(pr("b"), pr("c")))
        );
        assert_eq!(
            p("a pr and b pr or c pr"),
            or(and(pr("a"), pr("b")), pr("c"))
        );
    }

    #[test]
    fn not_binds_tighter_than_and() {
        assert_eq!(p("not (a pr) and b pr"), and(not(pr("a")), pr("b")));
    }

    #[test]
    fn parentheses_override_precedence() {
        assert_eq!(
            p("(a pr or b pr) and c pr"),
            and(or(pr("a"), pr("b")), pr("c"))
        );
    }

    #[test]
    fn and_and_or_are_left_associative() {
        assert_eq!(
            p("a pr and b pr and c pr"),
            and(and(pr("a"), pr("b")), pr("c"))
        );
        assert_eq!(p("a pr or b pr or c pr"), or(or(pr("a"), pr("b")), pr("c")));
    }

    #[test]
    fn every_operator_parses_case_insensitively() {
        for (word, op) in [
            ("eq", CompareOp::Eq),
            ("NE", CompareOp::Ne),
            ("Co", CompareOp::Co),
            ("sW", CompareOp::Sw),
            ("ew", CompareOp::Ew),
            ("GT", CompareOp::Gt),
            ("ge", CompareOp::Ge),
            ("Lt", CompareOp::Lt),
            ("lE", CompareOp::Le),
        ] {
            assert_eq!(p(&format!("a {word} \"x\"")), cmp("a", op, s("x")));
            assert_eq!(CompareOp::from_keyword(op.as_str()), Some(op));
        }
        assert_eq!(p("a PR"), pr("a"));
        assert_eq!(
            p("a pr AND b pr Or NOT (c pr)"),
            or(and(pr("a"), pr("b")), not(pr("c")))
        );
    }

    #[test]
    fn literals_are_case_insensitive_keywords() {
        assert_eq!(p("a eq TRUE"), cmp("a", CompareOp::Eq, Literal::Bool(true)));
        assert_eq!(
            p("a eq False"),
            cmp("a", CompareOp::Eq, Literal::Bool(false))
        );
        assert_eq!(p("a ne NuLL"), cmp("a", CompareOp::Ne, Literal::Null));
    }

    #[test]
    fn numbers_are_json_numbers() {
        assert_eq!(
            p("a gt 42"),
            cmp("a", CompareOp::Gt, Literal::Num(42.into()))
        );
        assert_eq!(
            p("a lt -7"),
            cmp("a", CompareOp::Lt, Literal::Num((-7).into()))
        );
        let Filter::Compare {
            value: Literal::Num(n),
            ..
        } = p("a ge 1.5e3")
        else {
            panic!("not a number comparison")
        };
        assert_eq!(n.as_f64(), Some(1500.0));
        for bad in ["01", "1.", "+1", "-", "1e", "1e999", "0x10"] {
            let d = err(&format!("a eq {bad}"));
            assert!(
                d.contains("not a valid JSON number") || d.contains("expected a value"),
                "{bad}: {d}"
            );
        }
        assert_eq!(
            err("a eq .5"),
            "expected a value (a string in double quotes, a number, true, false or null) after 'eq' at column 6, found '.5'"
        );
    }

    #[test]
    fn pr_takes_no_value() {
        assert_eq!(
            err(r#"title pr "x""#),
            "expected 'and' or 'or' at column 10, found a string"
        );
        assert_eq!(
            err("title pr true"),
            "expected 'and' or 'or' at column 10, found 'true'"
        );
    }

    #[test]
    fn ordering_operators_reject_booleans_and_null() {
        for op in ["gt", "ge", "lt", "le"] {
            for v in ["true", "false", "null"] {
                let d = err(&format!("active {op} {v}"));
                assert!(
                    d.starts_with(&format!("'{op}' at column 8 cannot compare with {v}")),
                    "{d}"
                );
            }
        }
        p("active eq true");
        p("manager ne null");
    }

    #[test]
    fn string_escapes_decode_as_json() {
        assert_eq!(
            p(r#"a eq "q\"b\\s\/b\bf\fn\nr\rt\t""#),
            cmp("a", CompareOp::Eq, s("q\"b\\s/b\u{8}f\u{c}n\nr\rt\t"))
        );
        assert_eq!(
            p(r#"a eq "\u00e9\u00C9""#),
            cmp("a", CompareOp::Eq, s("éÉ"))
        );
        assert_eq!(
            p(r#"a eq "\ud83d\ude00""#),
            cmp("a", CompareOp::Eq, s("😀"))
        );
        assert_eq!(
            p(r#"a eq "raw é 😀""#),
            cmp("a", CompareOp::Eq, s("raw é 😀"))
        );
    }

    #[test]
    fn bad_escapes_are_rejected_with_their_column() {
        assert_eq!(err(r#"a eq "x\q""#), "invalid escape '\\q' at column 8");
        assert_eq!(
            err(r#"a eq "\u12""#),
            "invalid \\u escape at column 7: expected four hex digits"
        );
        assert_eq!(
            err(r#"a eq "\ud83d""#),
            "unpaired UTF-16 surrogate in \\u escape at column 7"
        );
        assert_eq!(
            err(r#"a eq "\ud83d\u0041""#),
            "unpaired UTF-16 surrogate in \\u escape at column 7"
        );
        assert_eq!(
            err(r#"a eq "\ude00""#),
            "unpaired UTF-16 surrogate in \\u escape at column 7"
        );
    }

    #[test]
    fn unterminated_string_names_its_start_column() {
        assert_eq!(
            err(r#"userName eq "bjensen"#),
            "unterminated string starting at column 13"
        );
        assert_eq!(
            err(r#"userName eq "bj\"#),
            "unterminated string starting at column 13"
        );
    }

    #[test]
    fn schema_urn_qualified_attribute_paths() {
        let f = p(&format!(
            "{ENTERPRISE}:manager.value eq \"26118915-6090-4610-87e4-49d8ca9f808d\""
        ));
        let Filter::Compare { path, .. } = &f else {
            panic!("{f:?}")
        };
        assert_eq!(path.urn.as_deref(), Some(ENTERPRISE));
        assert_eq!(path.name, "manager");
        assert_eq!(path.sub.as_deref(), Some("value"));
        assert_eq!(
            f.to_string(),
            format!("{ENTERPRISE}:manager.value eq \"26118915-6090-4610-87e4-49d8ca9f808d\"")
        );
    }

    #[test]
    fn value_path_filters_parse_with_relative_paths() {
        assert_eq!(
            p(r#"emails[type eq "work" and value co "@x.com"]"#),
            vp(
                "emails",
                and(
                    cmp("type", CompareOp::Eq, s("work")),
                    cmp("value", CompareOp::Co, s("@x.com"))
                )
            )
        );
        assert_eq!(
            p(r#"emails[not (type eq "work")] and x pr"#),
            and(
                vp("emails", not(cmp("type", CompareOp::Eq, s("work")))),
                pr("x")
            )
        );
        assert_eq!(
            p(&format!("{ENTERPRISE}:manager[value pr]")).to_string(),
            format!("{ENTERPRISE}:manager[value pr]")
        );
    }

    fn dialects(s: &str) -> Vec<&'static str> {
        parse_with_dialects(s)
            .unwrap_or_else(|e| panic!("{s:?} should parse: {e}"))
            .1
    }

    #[test]
    fn sub_attribute_after_value_filter_is_read_as_the_bracket_form() {
        let entra = r#"emails[type eq "work"].value eq "ana@example.com""#;
        let bracket = r#"emails[type eq "work" and value eq "ana@example.com"]"#;
        assert_eq!(p(entra), p(bracket));
        assert_eq!(p(entra).to_string(), bracket);
        assert_eq!(dialects(entra), ["value_filter_sub_attribute"]);
        assert!(dialects(bracket).is_empty());
    }

    #[test]
    fn present_sub_attribute_after_value_filter_is_read_as_the_bracket_form() {
        assert_eq!(
            p(r#"emails[type eq "work"].value pr"#),
            vp(
                "emails",
                and(cmp("type", CompareOp::Eq, s("work")), pr("value"))
            )
        );
    }

    #[test]
    fn sub_attribute_after_an_or_value_filter_keeps_the_or_together() {
        let f = p(r#"emails[type eq "work" or type eq "home"].value co "@x""#);
        assert_eq!(
            f,
            vp(
                "emails",
                and(
                    or(
                        cmp("type", CompareOp::Eq, s("work")),
                        cmp("type", CompareOp::Eq, s("home"))
                    ),
                    cmp("value", CompareOp::Co, s("@x"))
                )
            )
        );
        assert_eq!(
            f.to_string(),
            r#"emails[(type eq "work" or type eq "home") and value co "@x"]"#
        );
        assert_eq!(p(&f.to_string()), f);
    }

    #[test]
    fn sub_attribute_after_value_filter_combines_with_logical_operators() {
        assert_eq!(
            p(r#"userName pr and emails[type eq "work"].value ew "@x" or title pr"#),
            or(
                and(
                    pr("userName"),
                    vp(
                        "emails",
                        and(
                            cmp("type", CompareOp::Eq, s("work")),
                            cmp("value", CompareOp::Ew, s("@x"))
                        )
                    )
                ),
                pr("title")
            )
        );
    }

    #[test]
    fn sub_attribute_after_value_filter_needs_a_comparison() {
        assert_eq!(
            err(r#"emails[type eq "work"].value"#),
            "expected a comparison operator after 'value' at column 29, found the end of the input"
        );
        assert_eq!(
            err(r#"emails[type eq "work"].value "x""#),
            "expected a comparison operator after 'value' at column 30, found a string"
        );
    }

    #[test]
    fn invalid_sub_attribute_after_value_filter_is_rejected() {
        assert_eq!(
            err(r#"emails[type eq "work"].1x eq "a""#),
            "'1x' at column 24 is not a valid sub-attribute name after a value filter"
        );
        assert_eq!(
            err(r#"emails[type eq "work"].value.x eq "a""#),
            "'value.x' at column 24 is not a valid sub-attribute name after a value filter"
        );
        assert_eq!(
            err(r#"emails[type eq "work"]. eq "a""#),
            "'' at column 24 is not a valid sub-attribute name after a value filter"
        );
    }

    #[test]
    fn sub_attribute_after_value_filter_counts_against_the_bounds() {
        let or_at_depth =
            |n: usize| format!("x[{}a pr{} or b pr].c pr", "(".repeat(n), ")".repeat(n));
        // The printed form adds a '(' around the or.
        let ok = p(&or_at_depth(MAX_DEPTH - 2));
        assert_eq!(p(&ok.to_string()), ok);
        assert!(err(&or_at_depth(MAX_DEPTH - 1)).starts_with("filter nests deeper than 10 levels"));
        let many = format!("x[{}].c pr", vec!["a pr"; MAX_COMPARISONS].join(" and "));
        assert!(err(&many).starts_with("filter has more than 50 comparisons"));
    }

    #[test]
    fn unquoted_word_is_a_string_value() {
        assert_eq!(p("userName eq bjensen"), p(r#"userName eq "bjensen""#));
        assert_eq!(p("userName sw O"), cmp("userName", CompareOp::Sw, s("O")));
        assert_eq!(
            p("userName eq bjensen@example.com and active eq true"),
            and(
                cmp("userName", CompareOp::Eq, s("bjensen@example.com")),
                cmp("active", CompareOp::Eq, Literal::Bool(true))
            )
        );
        assert_eq!(
            p("emails[type eq work]"),
            vp("emails", cmp("type", CompareOp::Eq, s("work")))
        );
        assert_eq!(dialects("userName eq bjensen"), ["unquoted_value"]);
        assert_eq!(
            p("userName eq bjensen").to_string(),
            r#"userName eq "bjensen""#
        );
    }

    #[test]
    fn quoted_values_and_keywords_use_no_dialect() {
        assert!(dialects(r#"userName eq "bjensen" and active eq True"#).is_empty());
        assert!(dialects("a eq null or b gt 3").is_empty());
    }

    #[test]
    fn unquoted_value_leaves_other_broken_values_refused() {
        assert_eq!(
            err("userName eq and b pr"),
            "expected a value (a string in double quotes, a number, true, false or null) after 'eq' at column 13, found 'and'"
        );
        assert_eq!(
            err("userName eq 'bjensen'"),
            "strings must be in double quotes: found 'bjensen' at column 13"
        );
        assert_eq!(
            err("userName eq bjensen and"),
            "expected an attribute path, 'not' or '(' at column 24, found the end of the input"
        );
        assert_eq!(
            err("userName eq b jensen"),
            "expected 'and' or 'or' at column 15, found 'jensen'"
        );
        assert!(err("a eq 0x10").contains("not a valid JSON number"));
    }

    #[test]
    fn nested_value_paths_are_rejected() {
        assert_eq!(
            err(r#"groups[members[value eq "x"]]"#),
            "value filters cannot be nested: '[' at column 15 is inside another value filter"
        );
    }

    #[test]
    fn value_path_after_sub_attribute_is_rejected() {
        assert_eq!(
            err(r#"name.x[type eq "a"]"#),
            "a value filter '[' must follow an attribute without a sub-attribute, but 'name.x' at column 1 has '.x'"
        );
    }

    #[test]
    fn missing_closing_bracket_names_the_opening_one() {
        assert_eq!(
            err(r#"emails[type eq "work""#),
            "missing ']' for the '[' at column 7"
        );
        assert_eq!(
            err(r#"emails[type eq "work")"#),
            "expected 'and', 'or' or ']' at column 22, found ')' (the '[' at column 7 is still open)"
        );
    }

    #[test]
    fn error_names_column_of_missing_operator() {
        assert_eq!(
            err(r#"userName "bjensen""#),
            "expected a comparison operator after 'userName' at column 10, found a string"
        );
        assert_eq!(
            err("userName"),
            "expected a comparison operator after 'userName' at column 9, found the end of the input"
        );
        assert_eq!(
            err("userName is 3"),
            "expected a comparison operator after 'userName' at column 10, found 'is'"
        );
    }

    #[test]
    fn error_names_column_of_missing_value() {
        assert_eq!(
            err("userName eq"),
            "expected a value (a string in double quotes, a number, true, false or null) after 'eq' at column 10, found the end of the input"
        );
        assert_eq!(
            err("userName eq 'x'"),
            "strings must be in double quotes: found 'x' at column 13"
        );
    }

    #[test]
    fn unexpected_close_paren_names_its_column() {
        assert_eq!(err("a pr  )"), "unexpected ')' at column 7");
        assert_eq!(
            err("()"),
            "expected an attribute path, 'not' or '(' at column 2, found ')'"
        );
        assert_eq!(err("a pr]"), "unexpected ']' at column 5");
    }

    #[test]
    fn missing_close_paren_names_the_opening_one() {
        assert_eq!(
            err("x pr and (a pr"),
            "missing ')' for the '(' at column 10"
        );
        assert_eq!(
            err("(a pr b pr)"),
            "expected 'and', 'or' or ')' at column 7, found 'b' (the '(' at column 1 is still open)"
        );
    }

    #[test]
    fn dangling_logical_operator_is_an_error() {
        assert_eq!(
            err("a pr and"),
            "expected an attribute path, 'not' or '(' at column 9, found the end of the input"
        );
        assert_eq!(
            err("a pr and or b pr"),
            "expected a comparison operator after 'or' at column 13, found 'b'"
        );
    }

    #[test]
    fn not_requires_parentheses() {
        assert_eq!(
            err(r#"not userName eq "x""#),
            "'not' at column 1 must be followed by a filter in parentheses, e.g. not (title pr); found 'userName' at column 5"
        );
        assert_eq!(p("not(a pr)"), not(pr("a")));
    }

    #[test]
    fn attributes_may_be_named_like_keywords() {
        assert_eq!(p("not pr"), pr("not"));
        assert_eq!(p(r#"not eq "x""#), cmp("not", CompareOp::Eq, s("x")));
        assert_eq!(p("and pr and or pr"), and(pr("and"), pr("or")));
    }

    #[test]
    fn empty_and_blank_filters_are_rejected() {
        assert_eq!(err(""), "filter is empty");
        assert_eq!(err(" \t "), "filter is empty");
    }

    #[test]
    fn invalid_attribute_names_are_rejected_with_column() {
        let d = err("a pr and 1abc pr");
        assert!(d.contains("'1abc'") && d.ends_with("(at column 10)"), "{d}");
        assert!(err("é pr").contains("(at column 1)"));
    }

    #[test]
    fn whitespace_is_liberal() {
        let f = p("  userName\t eq \n\"x\"   and\t(title  pr )  ");
        assert_eq!(f, and(cmp("userName", CompareOp::Eq, s("x")), pr("title")));
        assert_eq!(
            p(r#"a eq"x"and(b pr)"#),
            and(cmp("a", CompareOp::Eq, s("x")), pr("b"))
        );
    }

    #[test]
    fn columns_count_characters_not_bytes() {
        let f = p(r#"title eq "ééé" and  nick pr"#);
        let Filter::And(l, r) = &f else {
            panic!("{f:?}")
        };
        assert_eq!(l.col(), 1);
        assert_eq!(r.col(), 21);
        assert_eq!(f.col(), 1);
        assert_eq!(err(r#"title eq "ééé" )"#), "unexpected ')' at column 16");
    }

    #[test]
    fn equality_ignores_columns() {
        assert_eq!(p("a pr"), p("   a pr"));
        assert_ne!(p("a pr"), p("b pr"));
        assert_ne!(p("a pr and b pr"), p("a pr or b pr"));
    }

    #[test]
    fn display_is_canonical() {
        for (input, out) in [
            (r#"userName EQ "x""#, r#"userName eq "x""#),
            ("((a pr))", "a pr"),
            ("a pr and (b pr and c pr)", "a pr and (b pr and c pr)"),
            ("(a pr and b pr) and c pr", "a pr and b pr and c pr"),
            ("(a pr or b pr) and c pr", "(a pr or b pr) and c pr"),
            ("a pr or (b pr and c pr)", "a pr or b pr and c pr"),
            ("a pr or (b pr or c pr)", "a pr or (b pr or c pr)"),
            ("NOT(a pr)", "not (a pr)"),
            (r#"a eq "x\u0001\"""#, r#"a eq "x\u0001\"""#),
            ("a eq TRUE", "a eq true"),
            (r#"a eq "\/""#, r#"a eq "/""#),
            (r#"emails[ type eq "w" ]"#, r#"emails[type eq "w"]"#),
        ] {
            assert_eq!(p(input).to_string(), out, "{input}");
        }
    }

    #[test]
    fn length_limit_is_4096_characters() {
        let ok = format!("{} pr", "a".repeat(MAX_FILTER_LEN - 3));
        assert_eq!(ok.chars().count(), 4096);
        p(&ok);
        let long = format!("{} pr", "a".repeat(MAX_FILTER_LEN - 2));
        assert_eq!(err(&long), "filter is longer than 4096 characters");
        // Characters, not bytes: 4096 two-byte characters are within the limit.
        let wide = format!(r#"a eq "{}""#, "é".repeat(MAX_FILTER_LEN - 7));
        p(&wide);
    }

    #[test]
    fn depth_limit_is_10_levels() {
        let nest = |n: usize| format!("{}a pr{}", "(".repeat(n), ")".repeat(n));
        p(&nest(MAX_DEPTH));
        assert_eq!(
            err(&nest(MAX_DEPTH + 1)),
            "filter nests deeper than 10 levels (at column 11)"
        );
        let nots = |n: usize| format!("{}a pr{}", "not (".repeat(n), ")".repeat(n));
        p(&nots(MAX_DEPTH));
        assert!(err(&nots(MAX_DEPTH + 1)).starts_with("filter nests deeper than 10 levels"));
        let mixed = format!("x[{}a pr{}]", "(".repeat(9), ")".repeat(9));
        p(&mixed);
        let mixed = format!("x[{}a pr{}]", "(".repeat(10), ")".repeat(10));
        assert!(err(&mixed).starts_with("filter nests deeper than 10 levels"));
    }

    #[test]
    fn deepest_possible_input_errors_without_overflowing_the_stack() {
        let f = "(".repeat(MAX_FILTER_LEN);
        assert!(err(&f).starts_with("filter nests deeper than 10 levels"));
        let f = "not (".repeat(MAX_FILTER_LEN / 5);
        assert!(err(&f).starts_with("filter nests deeper than 10 levels"));
    }

    #[test]
    fn comparison_limit_is_50() {
        let many = |n: usize| vec!["a pr"; n].join(" and ");
        p(&many(MAX_COMPARISONS));
        assert_eq!(
            err(&many(MAX_COMPARISONS + 1)),
            "filter has more than 50 comparisons (the next one is at column 451)"
        );
        let inside = format!("x[{}]", vec![r#"a eq 1"#; 51].join(" or "));
        assert!(err(&inside).starts_with("filter has more than 50 comparisons"));
    }

    #[test]
    fn long_words_are_cut_in_error_messages() {
        let d = err(&format!("a {} 1", "z".repeat(200)));
        assert!(d.len() < 150, "{d}");
        assert!(d.contains('…'));
    }

    // ------------------------------------------------------------ evaluator

    fn ci(_: &str) -> bool {
        false
    }

    fn m(filter: &str, element: Value) -> bool {
        matches_element(&p(filter), &element, &ci)
    }

    #[test]
    fn evaluator_eq_is_case_insensitive_by_default() {
        let e = json!({"type": "Work", "value": "A@X.com"});
        assert!(m(r#"type eq "work""#, e.clone()));
        assert!(m(r#"TYPE eq "WORK""#, e.clone()));
        assert!(!m(r#"type eq "home""#, e));
    }

    #[test]
    fn evaluator_honours_case_exact_attributes() {
        let exact = |name: &str| name == "value";
        let e = json!({"value": "AbC", "display": "AbC"});
        let f = p(r#"value eq "abc""#);
        assert!(!matches_element(&f, &e, &exact));
        assert!(matches_element(&p(r#"value eq "AbC""#), &e, &exact));
        assert!(matches_element(&p(r#"display eq "abc""#), &e, &exact));
    }

    #[test]
    fn evaluator_substring_operators() {
        let e = json!({"value": "bjensen@example.com"});
        assert!(m(r#"value co "@EXAMPLE""#, e.clone()));
        assert!(m(r#"value sw "BJ""#, e.clone()));
        assert!(m(r#"value ew ".com""#, e.clone()));
        assert!(!m(r#"value sw "example""#, e.clone()));
        assert!(!m(r#"value ew "example""#, e));
    }

    #[test]
    fn evaluator_orders_strings_and_numbers() {
        let e = json!({"s": "b", "n": 10, "f": 2.5});
        assert!(m(r#"s gt "A""#, e.clone()));
        assert!(m(r#"s ge "B""#, e.clone()));
        assert!(m(r#"s lt "c""#, e.clone()));
        assert!(!m(r#"s le "a""#, e.clone()));
        assert!(m("n gt 9", e.clone()));
        assert!(m("n ge 10", e.clone()));
        assert!(!m("n lt 10", e.clone()));
        assert!(m("n le 10.0", e.clone()));
        assert!(m("n eq 10", e.clone()));
        assert!(m("f gt 2", e.clone()));
        assert!(m("f lt 2.6", e.clone()));
        // A number never equals its spelling as a string.
        assert!(!m(r#"n eq "10""#, e));
    }

    #[test]
    fn evaluator_matches_booleans() {
        let e = json!({"type": "work", "primary": true});
        assert!(m(r#"type eq "work" and primary eq true"#, e.clone()));
        assert!(!m("primary eq false", e.clone()));
        assert!(m("primary ne false", e));
    }

    #[test]
    fn evaluator_missing_attribute_matches_only_under_not() {
        let e = json!({"value": "x"});
        assert!(!m(r#"type eq "work""#, e.clone()));
        assert!(!m(r#"type ne "work""#, e.clone()));
        assert!(!m(r#"type co "w""#, e.clone()));
        assert!(!m("type pr", e.clone()));
        assert!(m(r#"not (type eq "work")"#, e.clone()));
        assert!(m("not (type pr)", e.clone()));
        assert!(!m(r#"type ne "work""#, json!({"type": null})));
    }

    #[test]
    fn evaluator_null_means_unassigned() {
        assert!(m("type eq null", json!({"value": "x"})));
        assert!(m("type eq null", json!({"type": null})));
        assert!(m("type eq null", json!({"type": ""})));
        assert!(!m("type eq null", json!({"type": "work"})));
        assert!(m("type ne null", json!({"type": "work"})));
        assert!(!m("type ne null", json!({"type": []})));
    }

    #[test]
    fn evaluator_present_needs_a_non_empty_value() {
        assert!(m("display pr", json!({"display": "x"})));
        assert!(m("primary pr", json!({"primary": false})));
        assert!(!m("display pr", json!({"display": ""})));
        assert!(!m("display pr", json!({"display": null})));
        assert!(!m("tags pr", json!({"tags": []})));
        assert!(!m("obj pr", json!({"obj": {}})));
    }

    #[test]
    fn evaluator_primitive_element_is_its_own_value() {
        assert!(m(r#"value eq "ADMIN""#, json!("admin")));
        assert!(m(r#"value sw "ad""#, json!("admin")));
        assert!(m("value gt 3", json!(4)));
        assert!(!m(r#"type eq "admin""#, json!("admin")));
        assert!(m("value pr", json!("admin")));
    }

    #[test]
    fn evaluator_and_or_not_combine() {
        let e = json!({"type": "work", "value": "a@x.com", "primary": false});
        assert!(m(r#"type eq "home" or value ew "x.com""#, e.clone()));
        assert!(!m(r#"type eq "home" or value ew "y.com""#, e.clone()));
        assert!(m(r#"type eq "work" and not (primary eq true)"#, e.clone()));
        assert!(!m(
            r#"(type eq "work" or type eq "home") and primary eq true"#,
            e
        ));
    }

    #[test]
    fn evaluator_follows_sub_attributes_and_urns() {
        let e = json!({
            "name": {"givenName": "Barbara"},
            "roles": [{"value": "a"}, {"value": "b"}],
            ENTERPRISE: {"manager": {"value": "m1"}},
        });
        assert!(m(r#"name.givenName eq "barbara""#, e.clone()));
        assert!(m(r#"roles.value eq "b""#, e.clone()));
        assert!(!m(r#"roles.value eq "c""#, e.clone()));
        assert!(m(r#"roles.value ne "c""#, e.clone()));
        assert!(!m(r#"roles.value ne "a""#, e.clone()));
        assert!(m(
            &format!("{ENTERPRISE}:manager.value eq \"M1\""),
            e.clone()
        ));
        assert!(m(r#"roles[value eq "a"]"#, e.clone()));
        assert!(!m(r#"roles[value eq "z"]"#, e));
    }

    #[test]
    fn evaluator_matches_any_value_of_a_multi_valued_attribute() {
        let e = json!({"tags": ["Red", "green"]});
        assert!(m(r#"tags eq "red""#, e.clone()));
        assert!(m(r#"tags eq "GREEN""#, e.clone()));
        assert!(!m(r#"tags eq "blue""#, e.clone()));
        assert!(m(r#"tags ne "blue""#, e.clone()));
        assert!(!m(r#"tags ne "red""#, e));
    }

    // ------------------------------------------------------------ properties

    pub(crate) fn arb_name() -> impl Strategy<Value = String> {
        prop_oneof![
            8 => "[a-zA-Z][a-zA-Z0-9_-]{0,8}",
            1 => Just("$ref".to_string()),
            1 => prop::sample::select(vec!["not", "and", "or", "pr", "eq", "true", "null", "urn"])
                .prop_map(str::to_string),
        ]
    }

    pub(crate) fn arb_urn() -> impl Strategy<Value = Option<String>> {
        prop_oneof![
            4 => Just(None),
            1 => Just(Some(ENTERPRISE.to_string())),
            1 => Just(Some("urn:ietf:params:scim:schemas:core:2.0:User".to_string())),
            1 => Just(Some("URN:example:x-1".to_string())),
        ]
    }

    pub(crate) fn arb_attr_path() -> impl Strategy<Value = AttrPath> {
        (arb_urn(), arb_name(), prop::option::of(arb_name()))
            .prop_map(|(urn, name, sub)| AttrPath { urn, name, sub })
    }

    pub(crate) fn arb_attr_path_no_sub() -> impl Strategy<Value = AttrPath> {
        (arb_urn(), arb_name()).prop_map(|(urn, name)| AttrPath {
            urn,
            name,
            sub: None,
        })
    }

    /// Decimals with few digits and small exponents: serde_json without its
    /// `float_roundtrip` feature reads those back exactly.
    fn arb_number() -> impl Strategy<Value = Number> {
        prop_oneof![
            any::<i64>().prop_map(Number::from),
            any::<u64>().prop_map(Number::from),
            (-999_999_999i64..999_999_999, 0u32..6, -15i32..15).prop_filter_map(
                "finite",
                |(m, frac, exp)| {
                    let text = format!("{}e{exp}", m as f64 / 10f64.powi(frac as i32));
                    serde_json::from_str::<Number>(&text).ok()
                }
            ),
        ]
    }

    fn arb_literal() -> impl Strategy<Value = Literal> {
        prop_oneof![
            4 => any::<String>().prop_map(Literal::Str),
            2 => arb_number().prop_map(Literal::Num),
            1 => any::<bool>().prop_map(Literal::Bool),
            1 => Just(Literal::Null),
        ]
    }

    fn arb_op() -> impl Strategy<Value = CompareOp> {
        prop::sample::select(vec![
            CompareOp::Eq,
            CompareOp::Ne,
            CompareOp::Co,
            CompareOp::Sw,
            CompareOp::Ew,
            CompareOp::Gt,
            CompareOp::Ge,
            CompareOp::Lt,
            CompareOp::Le,
        ])
    }

    fn arb_leaf() -> BoxedStrategy<Filter> {
        prop_oneof![
            1 => arb_attr_path().prop_map(|path| Filter::Present { path, col: 0 }),
            3 => (arb_attr_path(), arb_op(), arb_literal()).prop_map(|(path, op, value)| {
                // Ordering a boolean or null is rejected by the parser.
                let op = if op.is_ordering() && matches!(value, Literal::Bool(_) | Literal::Null) {
                    CompareOp::Eq
                } else {
                    op
                };
                Filter::Compare { path, op, value, col: 0 }
            }),
        ]
        .boxed()
    }

    fn combine(leaf: BoxedStrategy<Filter>, depth: u32) -> BoxedStrategy<Filter> {
        leaf.prop_recursive(depth, 24, 2, |inner| {
            prop_oneof![
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| Filter::And(Box::new(a), Box::new(b))),
                (inner.clone(), inner.clone())
                    .prop_map(|(a, b)| Filter::Or(Box::new(a), Box::new(b))),
                inner.prop_map(|a| Filter::Not(Box::new(a))),
            ]
        })
        .boxed()
    }

    /// Filters valid inside `[…]`: no value paths.
    pub(crate) fn arb_value_filter() -> BoxedStrategy<Filter> {
        combine(arb_leaf(), 3)
    }

    fn comparisons(f: &Filter) -> usize {
        match f {
            Filter::Compare { .. } | Filter::Present { .. } => 1,
            Filter::And(a, b) | Filter::Or(a, b) => comparisons(a) + comparisons(b),
            Filter::Not(a) => comparisons(a),
            Filter::ValuePath { filter, .. } => comparisons(filter),
        }
    }

    /// Nesting levels of the printed form (see `Display for Filter`).
    fn printed_depth(f: &Filter) -> usize {
        let wrapped = |x: &Filter, yes: bool| printed_depth(x) + usize::from(yes);
        match f {
            Filter::Compare { .. } | Filter::Present { .. } => 0,
            Filter::ValuePath { filter, .. } => 1 + printed_depth(filter),
            Filter::Not(a) => 1 + printed_depth(a),
            Filter::And(l, r) => wrapped(l, matches!(**l, Filter::Or(..)))
                .max(wrapped(r, matches!(**r, Filter::And(..) | Filter::Or(..)))),
            Filter::Or(l, r) => printed_depth(l).max(wrapped(r, matches!(**r, Filter::Or(..)))),
        }
    }

    pub(crate) fn within_bounds(f: &Filter) -> bool {
        comparisons(f) <= MAX_COMPARISONS
            && printed_depth(f) <= MAX_DEPTH
            && f.to_string().chars().count() <= MAX_FILTER_LEN
    }

    fn arb_filter() -> BoxedStrategy<Filter> {
        let value_path =
            (arb_attr_path_no_sub(), arb_value_filter()).prop_map(|(path, f)| Filter::ValuePath {
                path,
                filter: Box::new(f),
                col: 0,
            });
        let leaf = prop_oneof![3 => arb_leaf(), 1 => value_path].boxed();
        combine(leaf, 4)
            .prop_filter("within parser bounds", within_bounds)
            .boxed()
    }

    /// Strings made of pieces of filter syntax, glued with or without spaces,
    /// reach far deeper into the parser than random text.
    pub(crate) fn filterish() -> impl Strategy<Value = String> {
        let piece = prop::sample::select(vec![
            "userName",
            "emails",
            "name.familyName",
            "urn:ietf:params:scim:schemas:core:2.0:User:",
            "manager.value",
            ".value",
            "eq",
            "NE",
            "co",
            "sw",
            "ew",
            "gt",
            "ge",
            "lt",
            "le",
            "pr",
            "and",
            "or",
            "not",
            "(",
            ")",
            "[",
            "]",
            "\"",
            "\"x\"",
            "\"\\u",
            "\\",
            "\\ud83d",
            "\"é\"",
            "true",
            "null",
            "12",
            "-1.5e3",
            "1e999",
            "é",
            "😀",
            ":",
            ".",
            " ",
            "\t",
        ]);
        (prop::collection::vec(piece, 0..40), any::<bool>())
            .prop_map(|(v, spaced)| v.join(if spaced { " " } else { "" }))
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(s in any::<String>()) {
            let _ = parse(&s);
        }

        #[test]
        fn filterish_token_soup_never_panics(s in filterish()) {
            if let Ok(f) = parse(&s) {
                // Whatever parses must print to something that parses the same.
                prop_assert_eq!(parse(&f.to_string()).ok(), Some(f));
            }
        }

        #[test]
        fn printed_filter_parses_back_to_the_same_tree(f in arb_filter()) {
            let text = f.to_string();
            let back = parse(&text);
            prop_assert_eq!(back.as_ref().ok(), Some(&f), "printed as {}: {:?}", text, back);
        }

        #[test]
        fn sub_attribute_after_value_filter_parses_as_the_bracket_form(
            path in arb_attr_path_no_sub(),
            inner in arb_value_filter(),
            (name, op, value) in (arb_name(), arb_op(), arb_literal()),
        ) {
            let op = if op.is_ordering() && matches!(value, Literal::Bool(_) | Literal::Null) {
                CompareOp::Eq
            } else {
                op
            };
            let text = format!("{path}[{inner}].{name} {op} {value}");
            let sub = Filter::Compare { path: AttrPath::simple(&name), op, value, col: 0 };
            let want = Filter::ValuePath {
                path,
                filter: Box::new(Filter::And(Box::new(inner), Box::new(sub))),
                col: 0,
            };
            prop_assume!(within_bounds(&want));
            let got = parse(&text);
            prop_assert_eq!(got.as_ref().ok(), Some(&want), "{}: {:?}", text, got);
            prop_assert_eq!(parse(&want.to_string()).ok(), Some(want));
        }

        #[test]
        fn evaluator_never_panics(f in arb_value_filter(), v in any::<String>()) {
            let element = json!({"value": v, "type": "work", "primary": true, "n": 3});
            let _ = matches_element(&f, &element, &ci);
            let _ = matches_element(&f, &Value::String(v), &ci);
        }
    }
}
