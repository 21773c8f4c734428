//! The tokenizer: attribute paths, keywords, numbers and the literals
//! true/false/null are all words (which one depends on where the parser
//! meets it); strings are JSON strings; every token keeps its column.

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
