//! Index definitions.
//!
//! The API carries indexes as SQL text (`CREATE UNIQUE INDEX idx ON posts (title)`), but no
//! client text is ever executed: [`IndexDef::parse`] reads it into a structured definition of
//! validated names and literals, and the storage layer renders its own DDL from that.
//! Supported: `[UNIQUE]`, `[IF NOT EXISTS]`, plain columns with optional `COLLATE` and
//! `ASC`/`DESC`, and a partial-index `WHERE` made of `column op literal` terms joined with
//! `AND`/`OR` and parentheses.

use crate::id::is_word;

#[derive(Debug, Clone, PartialEq)]
pub struct IndexDef {
    pub name: String,
    pub unique: bool,
    pub table: String,
    pub columns: Vec<IndexColumn>,
    pub where_clause: Option<IndexWhere>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IndexColumn {
    pub name: String,
    pub collation: Option<Collation>,
    pub descending: bool,
}

/// The collations every backend can express.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Collation {
    Binary,
    NoCase,
    RTrim,
}

/// A partial-index condition.
#[derive(Debug, Clone, PartialEq)]
pub enum IndexWhere {
    And(Box<IndexWhere>, Box<IndexWhere>),
    Or(Box<IndexWhere>, Box<IndexWhere>),
    Compare {
        column: String,
        op: WhereOp,
        value: IndexLiteral,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WhereOp {
    Eq,
    NotEq,
    Lt,
    Lte,
    Gt,
    Gte,
    Is,
    IsNot,
}

#[derive(Debug, Clone, PartialEq)]
pub enum IndexLiteral {
    Null,
    Bool(bool),
    Number(f64),
    Text(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct IndexError(pub String);

fn err<T>(message: impl Into<String>) -> Result<T, IndexError> {
    Err(IndexError(message.into()))
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Quoted(String),
    Text(String),
    Number(f64),
    Symbol(&'static str),
}

fn tokenize(src: &str) -> Result<Vec<Token>, IndexError> {
    let chars: Vec<char> = src.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            c if c.is_whitespace() => i += 1,
            ';' if chars[i + 1..].iter().all(|c| c.is_whitespace()) => i = chars.len(),
            '`' | '"' | '[' => {
                let close = if c == '[' { ']' } else { c };
                let end = chars[i + 1..]
                    .iter()
                    .position(|&x| x == close)
                    .ok_or_else(|| IndexError("unterminated quoted identifier".into()))?;
                tokens.push(Token::Quoted(chars[i + 1..i + 1 + end].iter().collect()));
                i += end + 2;
            }
            '\'' => {
                let mut text = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => return err("unterminated string literal"),
                        Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                            text.push('\'');
                            i += 2;
                        }
                        Some('\'') => {
                            i += 1;
                            break;
                        }
                        Some(&ch) => {
                            text.push(ch);
                            i += 1;
                        }
                    }
                }
                tokens.push(Token::Text(text));
            }
            '(' => {
                tokens.push(Token::Symbol("("));
                i += 1;
            }
            ')' => {
                tokens.push(Token::Symbol(")"));
                i += 1;
            }
            ',' => {
                tokens.push(Token::Symbol(","));
                i += 1;
            }
            '!' | '<' | '>' | '=' => {
                let two: String = chars[i..(i + 2).min(chars.len())].iter().collect();
                let symbol = match two.as_str() {
                    "!=" => "!=",
                    "<>" => "!=",
                    "<=" => "<=",
                    ">=" => ">=",
                    "==" => "=",
                    _ => match c {
                        '<' => "<",
                        '>' => ">",
                        '=' => "=",
                        _ => return err("unexpected '!'"),
                    },
                };
                i += if symbol.len() == 2 || two == "<>" || two == "==" {
                    2
                } else {
                    1
                };
                tokens.push(Token::Symbol(symbol));
            }
            c if c.is_ascii_digit() || c == '-' || c == '.' => {
                let start = i;
                i += 1;
                while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                let number = text
                    .parse::<f64>()
                    .ok()
                    .filter(|n| n.is_finite())
                    .ok_or_else(|| IndexError(format!("invalid number {text}")))?;
                tokens.push(Token::Number(number));
            }
            c if c.is_ascii_alphanumeric() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                tokens.push(Token::Word(chars[start..i].iter().collect()));
            }
            other => return err(format!("unexpected character {other:?}")),
        }
    }
    Ok(tokens)
}

struct Parser {
    tokens: Vec<Token>,
    pos: usize,
    depth: usize,
}

const MAX_WHERE_DEPTH: usize = 20;

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        token
    }

    fn keyword(&mut self, word: &str) -> bool {
        if matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(word)) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn expect_keyword(&mut self, word: &str) -> Result<(), IndexError> {
        if self.keyword(word) {
            Ok(())
        } else {
            err(format!("expected {word}"))
        }
    }

    fn symbol(&mut self, symbol: &str) -> bool {
        if matches!(self.peek(), Some(Token::Symbol(s)) if *s == symbol) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn identifier(&mut self, what: &str) -> Result<String, IndexError> {
        match self.next() {
            Some(Token::Word(w) | Token::Quoted(w)) if is_word(&w) => Ok(w),
            _ => err(format!("invalid {what} name")),
        }
    }

    fn where_or(&mut self) -> Result<IndexWhere, IndexError> {
        let mut left = self.where_and()?;
        while self.keyword("OR") {
            left = IndexWhere::Or(Box::new(left), Box::new(self.where_and()?));
        }
        Ok(left)
    }

    fn where_and(&mut self) -> Result<IndexWhere, IndexError> {
        let mut left = self.where_term()?;
        while self.keyword("AND") {
            left = IndexWhere::And(Box::new(left), Box::new(self.where_term()?));
        }
        Ok(left)
    }

    fn where_term(&mut self) -> Result<IndexWhere, IndexError> {
        if self.symbol("(") {
            self.depth += 1;
            if self.depth > MAX_WHERE_DEPTH {
                return err("WHERE clause is nested too deeply");
            }
            let inner = self.where_or()?;
            if !self.symbol(")") {
                return err("expected )");
            }
            self.depth -= 1;
            return Ok(inner);
        }
        let column = self.identifier("column")?;
        let op = if self.keyword("IS") {
            if self.keyword("NOT") {
                WhereOp::IsNot
            } else {
                WhereOp::Is
            }
        } else {
            match self.next() {
                Some(Token::Symbol("=")) => WhereOp::Eq,
                Some(Token::Symbol("!=")) => WhereOp::NotEq,
                Some(Token::Symbol("<")) => WhereOp::Lt,
                Some(Token::Symbol("<=")) => WhereOp::Lte,
                Some(Token::Symbol(">")) => WhereOp::Gt,
                Some(Token::Symbol(">=")) => WhereOp::Gte,
                _ => return err("expected a comparison operator in WHERE"),
            }
        };
        let value = match self.next() {
            Some(Token::Text(t)) => IndexLiteral::Text(t),
            Some(Token::Number(n)) => IndexLiteral::Number(n),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("null") => IndexLiteral::Null,
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("true") => IndexLiteral::Bool(true),
            Some(Token::Word(w)) if w.eq_ignore_ascii_case("false") => IndexLiteral::Bool(false),
            _ => return err("expected a literal value in WHERE"),
        };
        Ok(IndexWhere::Compare { column, op, value })
    }
}

impl IndexDef {
    /// Parse the API's index text.
    pub fn parse(src: &str) -> Result<IndexDef, IndexError> {
        if src.len() > 2000 {
            return err("index definition is too long");
        }
        let mut p = Parser {
            tokens: tokenize(src)?,
            pos: 0,
            depth: 0,
        };
        p.expect_keyword("CREATE")?;
        let unique = p.keyword("UNIQUE");
        p.expect_keyword("INDEX")?;
        if p.keyword("IF") {
            p.expect_keyword("NOT")?;
            p.expect_keyword("EXISTS")?;
        }
        let name = p.identifier("index")?;
        p.expect_keyword("ON")?;
        // PocketBase's scaffolds leave the table name empty (`ON ``…`) for the collection's
        // own name to be filled in when it is saved.
        let table = if matches!(p.peek(), Some(Token::Quoted(w)) if w.is_empty()) {
            p.next();
            String::new()
        } else {
            p.identifier("table")?
        };
        if !p.symbol("(") {
            return err("expected ( after the table name");
        }
        let mut columns = Vec::new();
        loop {
            let column = p.identifier("column")?;
            let collation = if p.keyword("COLLATE") {
                Some(match p.next() {
                    Some(Token::Word(w)) if w.eq_ignore_ascii_case("nocase") => Collation::NoCase,
                    Some(Token::Word(w)) if w.eq_ignore_ascii_case("binary") => Collation::Binary,
                    Some(Token::Word(w)) if w.eq_ignore_ascii_case("rtrim") => Collation::RTrim,
                    _ => return err("unsupported collation"),
                })
            } else {
                None
            };
            let descending = if p.keyword("DESC") {
                true
            } else {
                p.keyword("ASC");
                false
            };
            columns.push(IndexColumn {
                name: column,
                collation,
                descending,
            });
            if p.symbol(")") {
                break;
            }
            if !p.symbol(",") {
                return err("expected , or ) in the column list");
            }
        }
        let where_clause = if p.keyword("WHERE") {
            Some(p.where_or()?)
        } else {
            None
        };
        if p.peek().is_some() {
            return err("unexpected text after the index definition");
        }
        Ok(IndexDef {
            name,
            unique,
            table,
            columns,
            where_clause,
        })
    }

    /// The canonical text form the API shows (and [`IndexDef::parse`] reads back).
    pub fn to_api_string(&self) -> String {
        let mut out = String::from("CREATE ");
        if self.unique {
            out.push_str("UNIQUE ");
        }
        out.push_str(&format!("INDEX `{}` ON `{}` (", self.name, self.table));
        let cols: Vec<String> = self
            .columns
            .iter()
            .map(|c| {
                let mut s = format!("`{}`", c.name);
                if let Some(collation) = c.collation {
                    s.push_str(" COLLATE ");
                    s.push_str(collation.keyword());
                }
                if c.descending {
                    s.push_str(" DESC");
                }
                s
            })
            .collect();
        out.push_str(&cols.join(", "));
        out.push(')');
        if let Some(w) = &self.where_clause {
            out.push_str(" WHERE ");
            w.write(&mut out, |column, out| {
                out.push('`');
                out.push_str(column);
                out.push('`');
            });
        }
        out
    }

    /// True for a unique index on exactly one column, the kind that makes a field an
    /// identity field or a back-relation singular. A `WHERE` clause does not matter, as in
    /// PocketBase: the default email index is partial (`WHERE email != ''`).
    pub fn is_single_column_unique(&self, column: &str) -> bool {
        self.unique && self.columns.len() == 1 && self.columns[0].name.eq_ignore_ascii_case(column)
    }
}

impl Collation {
    pub fn keyword(self) -> &'static str {
        match self {
            Collation::Binary => "BINARY",
            Collation::NoCase => "NOCASE",
            Collation::RTrim => "RTRIM",
        }
    }
}

impl WhereOp {
    pub fn sql(self) -> &'static str {
        match self {
            WhereOp::Eq => "=",
            WhereOp::NotEq => "!=",
            WhereOp::Lt => "<",
            WhereOp::Lte => "<=",
            WhereOp::Gt => ">",
            WhereOp::Gte => ">=",
            WhereOp::Is => "IS",
            WhereOp::IsNot => "IS NOT",
        }
    }
}

impl IndexLiteral {
    /// The literal as SQL text. Text is single-quoted with quotes doubled, so any content is
    /// inert; index DDL cannot take bound parameters, which is why literals are re-rendered
    /// from parsed values rather than copied from the client.
    pub fn sql(&self) -> String {
        match self {
            IndexLiteral::Null => "NULL".into(),
            IndexLiteral::Bool(true) => "TRUE".into(),
            IndexLiteral::Bool(false) => "FALSE".into(),
            IndexLiteral::Number(n) => n.to_string(),
            IndexLiteral::Text(t) => format!("'{}'", t.replace('\'', "''")),
        }
    }
}

impl IndexWhere {
    /// Render the condition; `quote` writes a (validated) column name in the target dialect.
    pub fn write(&self, out: &mut String, quote: impl Fn(&str, &mut String) + Copy) {
        match self {
            IndexWhere::And(a, b) | IndexWhere::Or(a, b) => {
                let joiner = if matches!(self, IndexWhere::And(..)) {
                    " AND "
                } else {
                    " OR "
                };
                out.push('(');
                a.write(out, quote);
                out.push_str(joiner);
                b.write(out, quote);
                out.push(')');
            }
            IndexWhere::Compare { column, op, value } => {
                quote(column, out);
                out.push(' ');
                out.push_str(op.sql());
                out.push(' ');
                out.push_str(&value.sql());
            }
        }
    }

    /// Every column the condition mentions.
    pub fn columns(&self) -> Vec<&str> {
        match self {
            IndexWhere::And(a, b) | IndexWhere::Or(a, b) => {
                let mut cols = a.columns();
                cols.extend(b.columns());
                cols
            }
            IndexWhere::Compare { column, .. } => vec![column.as_str()],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pocketbase_index_texts() {
        let idx = IndexDef::parse(
            "CREATE UNIQUE INDEX `idx_email__pb_users_auth_` ON `users` (`email`) WHERE `email` != ''",
        )
        .unwrap();
        assert!(idx.unique);
        assert_eq!(idx.name, "idx_email__pb_users_auth_");
        assert_eq!(idx.table, "users");
        assert_eq!(idx.columns[0].name, "email");
        assert_eq!(
            idx.to_api_string(),
            "CREATE UNIQUE INDEX `idx_email__pb_users_auth_` ON `users` (`email`) WHERE `email` != ''"
        );
        let plain = IndexDef::parse(
            "create index idx_posts_title on posts (title collate nocase desc, views)",
        )
        .unwrap();
        assert!(!plain.unique);
        assert_eq!(plain.columns.len(), 2);
        assert_eq!(plain.columns[0].collation, Some(Collation::NoCase));
        assert!(plain.columns[0].descending);
        assert!(IndexDef::parse("CREATE INDEX IF NOT EXISTS i ON t (a);").is_ok());
    }

    #[test]
    fn rejects_anything_that_is_not_a_plain_index() {
        for bad in [
            "DROP TABLE posts",
            "CREATE INDEX i ON t (a); DROP TABLE t",
            "CREATE INDEX i ON t (lower(a))",
            "CREATE INDEX i ON t (a) WHERE a = (SELECT 1)",
            "CREATE INDEX `i\"x` ON t (a)",
            "CREATE INDEX i ON t (a COLLATE evil)",
            "CREATE INDEX i ON t (a) WHERE a = 'unterminated",
            "CREATE INDEX i ON t ()",
            "",
        ] {
            assert!(IndexDef::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn where_literals_are_re_rendered_inert() {
        let idx = IndexDef::parse(
            "CREATE INDEX i ON t (a) WHERE a = 'x'' OR 1=1 --' AND (b IS NOT NULL OR c > 2)",
        )
        .unwrap();
        assert_eq!(
            idx.to_api_string(),
            "CREATE INDEX `i` ON `t` (`a`) WHERE (`a` = 'x'' OR 1=1 --' AND (`b` IS NOT NULL OR `c` > 2))"
        );
    }

    #[test]
    fn an_empty_table_name_is_left_for_the_collection_to_fill() {
        let idx =
            IndexDef::parse("CREATE UNIQUE INDEX `idx_a` ON `` (`email`) WHERE `email` != ''")
                .expect("a scaffold index parses");
        assert_eq!(idx.table, "");
        assert!(IndexDef::parse("CREATE INDEX idx_a ON (a)").is_err());
    }
}
