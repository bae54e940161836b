//! Helpers that read YAML nodes into values and report what does not fit.

use crate::diagnostic::{Code, Pos, Sink};
use crate::yaml::{Node, Value};

/// The keys of one mapping, checked against the keys a format allows.
#[derive(Debug)]
pub(crate) struct Fields<'n> {
    entries: Vec<(String, &'n Node, &'n Node)>,
    pub pos: Pos,
}

impl<'n> Fields<'n> {
    /// The value under `key`, if present.
    pub fn get(&self, key: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, _, v)| *v)
    }

    /// The position of `key` itself, if present.
    pub fn key_pos(&self, key: &str) -> Option<Pos> {
        self.entries
            .iter()
            .find(|(k, _, _)| k == key)
            .map(|(_, k, _)| k.pos)
    }
}

/// Reads `node` as a mapping with the given keys. Unknown keys are reported
/// with a "did you mean" suggestion, absent required keys at the mapping.
pub(crate) fn fields<'n>(
    sink: &mut Sink<'_>,
    node: &'n Node,
    what: &str,
    allowed: &[&str],
    required: &[&str],
) -> Option<Fields<'n>> {
    let entries = mapping(sink, node, what)?;
    let mut out = Fields {
        entries: Vec::new(),
        pos: node.pos,
    };
    for (key, value) in entries {
        let Some(name) = key_text(sink, key) else {
            continue;
        };
        if allowed.contains(&name.as_str()) {
            out.entries.push((name, key, value));
        } else {
            let message = format!("unknown key `{name}` in {what}");
            let width = name.chars().count();
            let d = sink.error(key.pos, Code::UnknownKey, message);
            d.width(width);
            match suggest(&name, allowed.iter().copied()) {
                Some(s) => d.hint(format!("did you mean `{s}`?")),
                None => d.hint(format!("expected one of: {}", allowed.join(", "))),
            };
        }
    }
    for key in required {
        if out.get(key).is_none() {
            sink.error(
                node.pos,
                Code::MissingKey,
                format!("{what} is missing the required key `{key}`"),
            );
        }
    }
    Some(out)
}

/// Reads `node` as a mapping whose keys are free names (modules, images…).
pub(crate) fn mapping<'n>(
    sink: &mut Sink<'_>,
    node: &'n Node,
    what: &str,
) -> Option<&'n [(Node, Node)]> {
    match &node.value {
        Value::Map(entries) => Some(entries),
        other => {
            sink.error(
                node.pos,
                Code::WrongType,
                format!("expected {what} to be a mapping, found {}", other.kind()),
            );
            None
        }
    }
}

/// A mapping key as text; keys must be strings (or numbers, read as text).
pub(crate) fn key_text(sink: &mut Sink<'_>, key: &Node) -> Option<String> {
    match &key.value {
        Value::Str(s) => Some(s.clone()),
        Value::Number(n) => Some(n.clone()),
        other => {
            sink.error(
                key.pos,
                Code::WrongType,
                format!("expected a key name, found {}", other.kind()),
            );
            None
        }
    }
}

/// A string value. Numbers are accepted as their written text because YAML
/// reads `1234567` or `1.10` as numbers where people mean strings.
pub(crate) fn string(sink: &mut Sink<'_>, node: &Node, what: &str) -> Option<String> {
    match &node.value {
        Value::Str(s) => Some(s.clone()),
        Value::Number(n) => Some(n.clone()),
        other => {
            sink.error(
                node.pos,
                Code::WrongType,
                format!("expected {what} to be a string, found {}", other.kind()),
            );
            None
        }
    }
}

/// A list's items: none for an empty value, and none (reported as
/// "expected {what}, found …") for anything but a list; `what` is e.g.
/// "`probes` to be a list".
pub(crate) fn items<'n>(sink: &mut Sink<'_>, node: &'n Node, what: &str) -> &'n [Node] {
    match &node.value {
        Value::Seq(items) => items,
        Value::Null => &[],
        other => {
            sink.error(
                node.pos,
                Code::WrongType,
                format!("expected {what}, found {}", other.kind()),
            );
            &[]
        }
    }
}

/// A non-empty string value.
pub(crate) fn nonempty_string(sink: &mut Sink<'_>, node: &Node, what: &str) -> Option<String> {
    let s = string(sink, node, what)?;
    if s.trim().is_empty() {
        sink.error(node.pos, Code::InvalidValue, format!("{what} is empty"));
        return None;
    }
    Some(s)
}

/// A list of strings; a single string is accepted as a list of one when `single_ok`.
pub(crate) fn string_list(
    sink: &mut Sink<'_>,
    node: &Node,
    what: &str,
    single_ok: bool,
) -> Option<Vec<(String, Pos)>> {
    match &node.value {
        Value::Seq(items) => Some(
            items
                .iter()
                .filter_map(|item| string(sink, item, what).map(|s| (s, item.pos)))
                .collect(),
        ),
        Value::Str(s) if single_ok => Some(vec![(s.clone(), node.pos)]),
        other => {
            sink.error(
                node.pos,
                Code::WrongType,
                format!(
                    "expected {what} to be a list of strings, found {}",
                    other.kind()
                ),
            );
            None
        }
    }
}

/// The closest allowed name to `name`, if it is close enough to be a typo.
pub(crate) fn suggest<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    candidates
        .into_iter()
        .map(|c| (strsim::jaro_winkler(name, c), c))
        .filter(|(score, _)| *score >= 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, c)| c)
}

/// The hint for an unknown `name`: the closest of `candidates` when it is
/// close enough to be a typo, else `{label}: a, b, c`.
pub(crate) fn closest_hint<'a>(
    name: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    label: &str,
) -> String {
    let candidates: Vec<&str> = candidates.into_iter().collect();
    match suggest(name, candidates.iter().copied()) {
        Some(s) => format!("did you mean `{s}`?"),
        None => format!("{label}: {}", candidates.join(", ")),
    }
}

/// The position of the `index`-th character of a scalar that starts at
/// `pos`, allowing for an opening quote in the source.
pub(crate) fn pos_in_scalar(source: &str, node: &Node, text: &str, byte_index: usize) -> Pos {
    let quoted = node
        .pos
        .offset
        .and_then(|o| source.get(o..))
        .is_some_and(|rest| rest.starts_with(['"', '\'']));
    let base = if quoted {
        node.pos.advance(1, 1)
    } else {
        node.pos
    };
    let chars = text[..byte_index].chars().count();
    base.advance(chars, byte_index)
}

/// The byte range of a scalar's text in `source` (inside its quotes, if any).
pub(crate) fn scalar_span(source: &str, node: &Node) -> Option<(usize, usize, Option<char>)> {
    let start = node.pos.offset?;
    let rest = source.get(start..)?;
    let first = rest.chars().next()?;
    if first == '"' || first == '\'' {
        let end = rest[1..].find(first)? + 1;
        return Some((start + 1, start + end, Some(first)));
    }
    let text = crate::yaml::plain_token(rest);
    Some((start, start + text.len(), None))
}

/// A positive whole number (`timeout_secs`, `retries`…), or `None` after
/// reporting what was found instead.
pub(crate) fn positive_int(
    sink: &mut Sink<'_>,
    node: &Node,
    what: &str,
    zero_ok: bool,
) -> Option<u64> {
    match &node.value {
        Value::Number(t) if t.parse::<u64>().is_ok_and(|t| zero_ok || t > 0) => t.parse().ok(),
        other => {
            let found = match other {
                Value::Number(n) => format!("`{n}`"),
                _ => other.kind().to_string(),
            };
            let expected = if zero_ok {
                "a whole number"
            } else {
                "a positive whole number"
            };
            sink.error(
                node.pos,
                Code::InvalidValue,
                format!("expected {what} to be {expected}, found {found}"),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let allowed = ["commits", "images", "migrations", "feature_flags"];
        assert_eq!(suggest("imagse", allowed), Some("images"));
        assert_eq!(suggest("featureflags", allowed), Some("feature_flags"));
        assert_eq!(suggest("zzz", allowed), None);
    }
}
