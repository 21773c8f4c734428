//! The recursive-descent parser: the token list becomes a [`Filter`] tree,
//! within the bounds of length, nesting and comparison count, reading the
//! known IdP dialects into the ordinary tree and naming them.

use super::lex::{describe, shorten, tokenize, Tok, Token};
use super::{CompareOp, Filter, Literal, MAX_COMPARISONS, MAX_DEPTH, MAX_FILTER_LEN};
use crate::scim::attrpath::{is_attr_name, AttrPath};
use crate::scim::error::ScimError;
use serde_json::Number;

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
                let n = serde_json::from_str::<Number>(w)
                    .map_err(|_| format!("'{w}' at column {} is not a valid JSON number", t.col))?;
                // serde_json (without `float_roundtrip`) can miss the nearest
                // double by one unit for long mantissas, and then the printed
                // form reads back as another number; std's parser is exact.
                let exact = match (n.is_f64(), w.parse::<f64>().ok().and_then(Number::from_f64)) {
                    (true, Some(exact)) => exact,
                    _ => n,
                };
                Ok(Literal::Num(exact))
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
