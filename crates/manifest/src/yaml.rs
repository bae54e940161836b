//! A YAML document as a tree of nodes that remember where they came from.
//!
//! This is the "what the file says" layer: serde-saphyr parses the text (YAML
//! 1.2, duplicate keys rejected, alias and depth budgets on) into [`Node`]s that
//! carry their line, column and source text. Validation then turns nodes into
//! domain types and reports every problem at once, which typed serde structs
//! cannot do (they stop at the first error and lose unknown keys' positions).

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

use crate::diagnostic::Pos;

/// One YAML node and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub value: Value,
    pub pos: Pos,
}

/// The shape of a node.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Null,
    Bool(bool),
    /// Integers and floats, kept as the text that was written so `0123` or
    /// `1.10` survive as written when a string was meant.
    Number(String),
    Str(String),
    Seq(Vec<Node>),
    Map(Vec<(Node, Node)>),
}

impl Value {
    /// A short name of the node's type, for "expected X, found Y" messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::Str(_) => "a string",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

impl Node {
    /// The scalar's text, whatever YAML type it resolved to (a commit SHA of
    /// only digits is read as a number by YAML; it is still a SHA).
    pub fn scalar_text(&self) -> Option<String> {
        match &self.value {
            Value::Str(s) => Some(s.clone()),
            Value::Number(n) => Some(n.clone()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
}

/// A YAML syntax error, with the position serde-saphyr reported.
#[derive(Debug, Clone)]
pub(crate) struct SyntaxError {
    pub message: String,
    pub pos: Pos,
}

/// Parses one YAML document. An empty document is `Null` at 1:1.
pub(crate) fn parse(source: &str) -> Result<Node, SyntaxError> {
    if source.trim().is_empty() {
        return Ok(Node {
            value: Value::Null,
            pos: Pos::new(1, 1),
        });
    }
    let options = serde_saphyr::options! {
        strict_booleans: true,
    };
    match serde_saphyr::from_str_with_options::<Spanned<RawNode>>(source, options) {
        Ok(spanned) => Ok(into_node(spanned, source)),
        Err(err) => {
            let pos = err
                .location()
                .filter(|l| l.line() > 0)
                .map(|l| Pos::new(l.line() as usize, l.column() as usize))
                .unwrap_or(Pos::new(1, 1));
            let rendered = err.without_snippet().to_string();
            // serde-saphyr appends " at line L, column C"; the position is shown separately.
            let message = match rendered.rfind(" at line ") {
                Some(i) => rendered[..i].to_string(),
                None => rendered,
            };
            Err(SyntaxError {
                message: message
                    .lines()
                    .next()
                    .unwrap_or_default()
                    .trim()
                    .to_string(),
                pos,
            })
        }
    }
}

fn into_node(spanned: Spanned<RawNode>, source: &str) -> Node {
    let loc = spanned.referenced;
    let mut pos = Pos::new(loc.line() as usize, loc.column() as usize);
    if let Some(offset) = loc.span().byte_offset() {
        pos.offset = Some(offset as usize);
    }
    let value = match spanned.value {
        RawNode::Null => Value::Null,
        RawNode::Bool(b) => Value::Bool(b),
        RawNode::Number(n) => Value::Number(source_text(source, &pos).unwrap_or(n)),
        RawNode::Str(s) => Value::Str(s),
        RawNode::Seq(items) => {
            Value::Seq(items.into_iter().map(|n| into_node(n, source)).collect())
        }
        RawNode::Map(entries) => Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (into_node(k, source), into_node(v, source)))
                .collect(),
        ),
    };
    Node { value, pos }
}

/// The plain scalar that starts at `pos`, as written.
fn source_text(source: &str, pos: &Pos) -> Option<String> {
    let text = plain_token(source.get(pos.offset?..)?);
    (!text.is_empty()).then(|| text.to_string())
}

/// The text of a plain scalar token at the start of `rest`: up to whitespace
/// or a flow indicator (`,`, `]`, `}`). Only for values that cannot contain
/// those (numbers, release ids, image references).
pub(crate) fn plain_token(rest: &str) -> &str {
    let end = rest
        .find(|c: char| c.is_whitespace() || matches!(c, ',' | ']' | '}'))
        .unwrap_or(rest.len());
    &rest[..end]
}

/// What serde-saphyr hands us; converted to [`Node`] with positions filled in.
enum RawNode {
    Null,
    Bool(bool),
    Number(String),
    Str(String),
    Seq(Vec<Spanned<RawNode>>),
    Map(Vec<(Spanned<RawNode>, Spanned<RawNode>)>),
}

impl<'de> Deserialize<'de> for RawNode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(RawNodeVisitor)
    }
}

struct RawNodeVisitor;

impl<'de> Visitor<'de> for RawNodeVisitor {
    type Value = RawNode;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<RawNode, E> {
        Ok(RawNode::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<RawNode, E> {
        Ok(RawNode::Number(v.to_string()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<RawNode, E> {
        Ok(RawNode::Number(v.to_string()))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<RawNode, E> {
        Ok(RawNode::Number(v.to_string()))
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<RawNode, E> {
        Ok(RawNode::Number(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<RawNode, E> {
        Ok(RawNode::Number(v.to_string()))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<RawNode, E> {
        Ok(RawNode::Str(v.to_string()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<RawNode, E> {
        Ok(RawNode::Str(v))
    }
    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<RawNode, E> {
        Ok(RawNode::Str(String::from_utf8_lossy(v).into_owned()))
    }
    fn visit_unit<E: de::Error>(self) -> Result<RawNode, E> {
        Ok(RawNode::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<RawNode, E> {
        Ok(RawNode::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<RawNode, D::Error> {
        RawNode::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<RawNode, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<RawNode>>()? {
            items.push(item);
        }
        Ok(RawNode::Seq(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawNode, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<RawNode>>()? {
            let value = map.next_value::<Spanned<RawNode>>()?;
            entries.push((key, value));
        }
        Ok(RawNode::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_point_at_values() {
        let node = parse("a: 1\nb:\n  - x\n  - 'y'\n").unwrap();
        let Value::Map(entries) = node.value else {
            panic!("map")
        };
        assert_eq!(entries[0].0.pos.line, 1);
        assert_eq!(entries[0].0.pos.column, 1);
        assert_eq!(entries[0].1.value, Value::Number("1".into()));
        assert_eq!(entries[0].1.pos.column, 4);
        let Value::Seq(items) = &entries[1].1.value else {
            panic!("seq")
        };
        assert_eq!((items[1].pos.line, items[1].pos.column), (4, 5));
    }

    #[test]
    fn numbers_keep_their_written_text() {
        let node = parse("sha: 0123456\nv: 1.10\n").unwrap();
        let Value::Map(entries) = node.value else {
            panic!("map")
        };
        assert_eq!(entries[0].1.value, Value::Number("0123456".into()));
        assert_eq!(entries[1].1.value, Value::Number("1.10".into()));
    }

    #[test]
    fn numbers_in_flow_lists_keep_only_their_own_text() {
        let node = parse("v: [1, 2.50]\nw: {a: 007}\n").unwrap();
        let Value::Map(entries) = node.value else {
            panic!("map")
        };
        let Value::Seq(items) = &entries[0].1.value else {
            panic!("seq")
        };
        assert_eq!(items[0].value, Value::Number("1".into()));
        assert_eq!(items[1].value, Value::Number("2.50".into()));
        let Value::Map(inner) = &entries[1].1.value else {
            panic!("map")
        };
        assert_eq!(inner[0].1.value, Value::Number("007".into()));
    }

    #[test]
    fn duplicate_keys_are_errors() {
        let err = parse("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(err.pos.line, 3, "{err:?}");
    }

    #[test]
    fn syntax_errors_have_positions() {
        let err = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.pos.line >= 1, "{err:?}");
    }
}
