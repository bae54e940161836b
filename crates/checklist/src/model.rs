//! Parsing a Markdown runbook into sections and checklist items.

use std::ops::Range;
use std::path::{Path, PathBuf};

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use serde::Serialize;

use crate::error::{Error, Problem};

/// A parsed checklist document. The source text is kept so rendering can
/// patch exactly the bytes that change.
#[derive(Debug, Clone)]
pub struct Checklist {
    pub path: PathBuf,
    pub source: String,
    /// The first level-1 heading, if any.
    pub title: Option<String>,
    pub sections: Vec<Section>,
    pub items: Vec<Item>,
}

/// A numbered (`## 3. Database Migration Plan`) or level-2 heading and what follows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Section {
    /// `3`, or a slug of the title for unnumbered sections.
    pub id: String,
    /// The leading number, when the heading has one.
    pub number: Option<String>,
    pub title: String,
    pub line: usize,
}

/// Whether an item is a table row or a task-list entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemKind {
    TableRow,
    Task,
}

/// One checkbox.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Item {
    /// `<section id>.<position in section>`, e.g. `3.2`: stable under edits
    /// to other sections.
    pub id: String,
    pub section: String,
    pub kind: ItemKind,
    pub line: usize,
    pub owner: Option<String>,
    /// The action or verification text (a task item's whole text).
    pub action: String,
    pub notes: Option<String>,
    /// Whether the document itself has the box ticked.
    pub checked_in_source: bool,
    /// Byte range of the character between the brackets.
    #[serde(skip)]
    pub(crate) mark: Range<usize>,
    /// Byte range of the Notes cell's text (empty range at its start when blank).
    #[serde(skip)]
    pub(crate) notes_span: Option<Range<usize>>,
    /// Byte offset just past the item's last line (task items: where evidence goes).
    #[serde(skip)]
    pub(crate) end: usize,
    /// Indentation for lines added under a task item.
    #[serde(skip)]
    pub(crate) indent: String,
}

const OWNER_HEADERS: &[&str] = &["owner", "owners", "who", "role", "responsible"];
const ACTION_HEADERS: &[&str] = &[
    "action / verification",
    "action",
    "verification",
    "task",
    "what",
    "step",
    "item",
];
const NOTES_HEADERS: &[&str] = &["notes", "evidence", "notes / evidence", "comments"];
const CHECK_HEADERS: &[&str] = &["check", "done", "✓", "✔", "status", "[ ]", "[x]"];

impl Checklist {
    /// Reads and parses a checklist file.
    pub fn load(path: &Path) -> Result<Checklist, Error> {
        let source = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Checklist::parse(path, &source)
    }

    /// Parses Markdown text. Every problem is reported, each with its line.
    pub fn parse(path: &Path, source: &str) -> Result<Checklist, Error> {
        let mut problems = Vec::new();
        let mut title = None;
        let mut sections: Vec<Section> = Vec::new();
        let mut items: Vec<Item> = Vec::new();
        let lines = LineIndex::new(source);

        let mut heading: Option<(HeadingLevel, usize, String)> = None;
        // Open list items, innermost last, each with its task marker
        // (checked, marker range) once seen: a parent task keeps its own
        // marker while its sub-tasks are read.
        let mut item_stack: Vec<OpenListItem> = Vec::new();
        let options = Options::ENABLE_TABLES | Options::ENABLE_TASKLISTS;
        for (event, range) in Parser::new_ext(source, options).into_offset_iter() {
            match event {
                Event::Start(Tag::Heading { level, .. }) => {
                    heading = Some((level, range.start, String::new()))
                }
                Event::Text(t) | Event::Code(t) if heading.is_some() => {
                    if let Some((_, _, text)) = heading.as_mut() {
                        text.push_str(&t);
                    }
                }
                Event::End(TagEnd::Heading(_)) => {
                    let Some((level, start, text)) = heading.take() else {
                        continue;
                    };
                    let text = text.trim().to_string();
                    let line = lines.line_of(start);
                    let number = leading_number(&text);
                    if level == HeadingLevel::H1 && number.is_none() {
                        title.get_or_insert(text);
                    } else if number.is_some() || level == HeadingLevel::H2 {
                        let id = number.clone().unwrap_or_else(|| slug(&text));
                        sections.push(Section {
                            id,
                            number,
                            title: text,
                            line,
                        });
                    }
                }
                Event::Start(Tag::Item) => item_stack.push((range, None)),
                Event::TaskListMarker(checked) => {
                    if let Some((_, marker)) = item_stack.last_mut() {
                        *marker = Some((checked, range));
                    }
                }
                Event::End(TagEnd::Item) => {
                    if let Some((range, Some((checked, marker)))) = item_stack.pop() {
                        let Some(open) = source[marker.clone()].find('[') else {
                            continue;
                        };
                        let mark = marker.start + open + 1..marker.start + open + 2;
                        let line_no = lines.line_of(marker.start);
                        let item_line = lines.line_of(range.start);
                        let first_line =
                            &source[lines.start_of(item_line)..lines.end_of(item_line)];
                        let indent: String = first_line
                            .chars()
                            .take_while(|c| c.is_whitespace())
                            .collect();
                        let text = source
                            .get(marker.end..lines.end_of(line_no))
                            .unwrap_or("")
                            .trim()
                            .to_string();
                        let section = sections
                            .last()
                            .map_or_else(|| "doc".to_string(), |s| s.id.clone());
                        // The item's text can continue on following lines; evidence goes after all of them.
                        let end = end_of_item(source, &range);
                        items.push(Item {
                            id: String::new(),
                            section,
                            kind: ItemKind::Task,
                            line: line_no,
                            owner: None,
                            action: text,
                            notes: None,
                            checked_in_source: checked,
                            mark,
                            notes_span: None,
                            end,
                            indent: format!("{indent}  "),
                        });
                    }
                }
                Event::Start(Tag::Table(_)) => {
                    let section = sections
                        .last()
                        .map_or_else(|| "doc".to_string(), |s| s.id.clone());
                    table_items(source, &lines, range, &section, &mut items, &mut problems);
                }
                _ => {}
            }
        }

        // Ids: position within the section, in document order.
        items.sort_by_key(|i| i.mark.start);
        let mut counters: Vec<(String, usize)> = Vec::new();
        for item in &mut items {
            let n = match counters.iter_mut().find(|(s, _)| *s == item.section) {
                Some((_, n)) => {
                    *n += 1;
                    *n
                }
                None => {
                    counters.push((item.section.clone(), 1));
                    1
                }
            };
            item.id = format!("{}.{n}", item.section);
        }
        for (i, s) in sections.iter().enumerate() {
            if let Some(first) = sections[..i].iter().find(|o| o.id == s.id) {
                problems.push(Problem {
                    line: s.line,
                    message: format!(
                        "section id `{}` is used twice (lines {} and {}); item ids would be ambiguous",
                        s.id, first.line, s.line
                    ),
                });
            }
        }
        if items.is_empty() && problems.is_empty() {
            return Err(Error::NoChecklist {
                path: path.to_path_buf(),
            });
        }
        if !problems.is_empty() {
            problems.sort_by_key(|p| p.line);
            return Err(Error::Invalid {
                path: path.to_path_buf(),
                problems,
            });
        }
        Ok(Checklist {
            path: path.to_path_buf(),
            source: source.to_string(),
            title,
            sections,
            items,
        })
    }

    pub fn item(&self, id: &str) -> Option<&Item> {
        self.items.iter().find(|i| i.id == id)
    }

    pub fn section(&self, id: &str) -> Option<&Section> {
        self.sections.iter().find(|s| s.id == id)
    }

    pub fn items_in<'a>(&'a self, section: &'a str) -> impl Iterator<Item = &'a Item> + 'a {
        self.items.iter().filter(move |i| i.section == section)
    }
}

/// `3` of `3. Database Migration Plan`, `1.2` of `1.2 Something`.
fn leading_number(text: &str) -> Option<String> {
    let digits: String = text
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    let number = digits.trim_end_matches('.');
    let rest = &text[digits.len()..];
    let ok = !number.is_empty()
        && number.split('.').all(|p| !p.is_empty())
        && (rest.is_empty()
            || rest.starts_with(char::is_whitespace)
            || rest.starts_with([')', ':']));
    ok.then(|| number.to_string())
}

fn slug(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

/// Where an item's text ends: the end of its last non-blank line inside the item.
/// A list item being read: its range, and its task marker (checked,
/// marker range) once seen.
type OpenListItem = (Range<usize>, Option<(bool, Range<usize>)>);

fn end_of_item(source: &str, range: &Range<usize>) -> usize {
    let text = &source[range.clone()];
    let trimmed = text.trim_end();
    let mut end = range.start + trimmed.len();
    // Through the end of that line.
    if let Some(nl) = source[end..].find('\n') {
        end += nl + 1;
    } else {
        end = source.len();
    }
    end
}

/// Reads the rows of one GFM table; adds items when it has a check column.
fn table_items(
    source: &str,
    lines: &LineIndex,
    range: Range<usize>,
    section: &str,
    items: &mut Vec<Item>,
    problems: &mut Vec<Problem>,
) {
    let first = lines.line_of(range.start);
    let last = lines.line_of(range.end.saturating_sub(1).max(range.start));
    let rows: Vec<(usize, Vec<Range<usize>>)> = (first..=last)
        .filter_map(|n| {
            let (s, e) = (lines.start_of(n), lines.end_of(n));
            let text = &source[s..e];
            (!text.trim().is_empty()).then(|| (n, split_cells(source, s, e)))
        })
        .collect();
    let Some((header_line, header)) = rows.first() else {
        return;
    };
    let header_text: Vec<String> = header
        .iter()
        .map(|r| source[r.clone()].trim().to_lowercase())
        .collect();
    let body = rows.iter().skip(2);
    let is_mark = |t: &str| matches!(t.trim(), "[ ]" | "[x]" | "[X]");
    let check_col = header_text
        .iter()
        .position(|h| CHECK_HEADERS.contains(&h.as_str()))
        .or_else(|| {
            (0..header.len()).find(|&c| {
                let mut cells = body
                    .clone()
                    .filter_map(|(_, cells)| cells.get(c))
                    .peekable();
                cells.peek().is_some() && cells.all(|r| is_mark(&source[r.clone()]))
            })
        });
    let Some(check_col) = check_col else { return };
    let find = |names: &[&str]| header_text.iter().position(|h| names.contains(&h.as_str()));
    let owner_col = find(OWNER_HEADERS);
    let notes_col = find(NOTES_HEADERS);
    let action_col = find(ACTION_HEADERS).or_else(|| {
        (0..header.len())
            .find(|c| Some(*c) != owner_col && Some(*c) != notes_col && *c != check_col)
    });
    for (line, cells) in body {
        if cells.len() != header.len() {
            problems.push(Problem {
                line: *line,
                message: format!(
                    "table row has {} cells but its header (line {header_line}) has {}",
                    cells.len(),
                    header.len()
                ),
            });
            continue;
        }
        let cell = |c: Option<usize>| {
            c.map(|c| source[cells[c].clone()].trim().to_string())
                .filter(|t| !t.is_empty())
        };
        let check = &cells[check_col];
        let text = &source[check.clone()];
        let Some(open) = text
            .find(['['])
            .filter(|&o| text.get(o..o + 3).is_some_and(is_mark))
        else {
            problems.push(Problem {
                line: *line,
                message: format!(
                    "expected `[ ]` or `[x]` in the check column, found `{}`",
                    text.trim()
                ),
            });
            continue;
        };
        let mark = check.start + open + 1..check.start + open + 2;
        items.push(Item {
            id: String::new(),
            section: section.to_string(),
            kind: ItemKind::TableRow,
            line: *line,
            owner: cell(owner_col),
            action: cell(action_col).unwrap_or_default(),
            notes: cell(notes_col),
            checked_in_source: source[mark.clone()].eq_ignore_ascii_case("x"),
            mark,
            notes_span: notes_col.map(|c| trim_range(source, cells[c].clone())),
            end: lines.end_of(*line),
            indent: String::new(),
        });
    }
    let delimiter_ok = rows.get(1).is_some_and(|(_, cells)| {
        cells.iter().all(|r| {
            source[r.clone()]
                .trim()
                .trim_matches(':')
                .chars()
                .all(|c| c == '-')
        })
    });
    if !delimiter_ok {
        problems.push(Problem {
            line: header_line + 1,
            message: "expected the table's delimiter row (`| --- | --- |`)".into(),
        });
    }
}

fn trim_range(source: &str, r: Range<usize>) -> Range<usize> {
    let text = &source[r.clone()];
    let start = r.start + (text.len() - text.trim_start().len());
    let end = start + text.trim().len();
    start..end
}

/// Byte ranges of the cells of one table line, split at unescaped `|`.
fn split_cells(source: &str, start: usize, end: usize) -> Vec<Range<usize>> {
    let line = &source[start..end];
    let bytes = line.as_bytes();
    let mut bars = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'|' => {
                bars.push(i);
                i += 1;
            }
            _ => i += 1,
        }
    }
    let lead = line.len() - line.trim_start().len();
    let trail_end = line.trim_end().len();
    let mut edges: Vec<usize> = bars.clone();
    if bars.first() != Some(&lead) {
        edges.insert(0, lead.wrapping_sub(1));
    }
    if bars.last().map(|b| b + 1) != Some(trail_end) {
        edges.push(trail_end);
    }
    edges
        .windows(2)
        .map(|w| start + w[0].wrapping_add(1)..start + w[1])
        .collect()
}

/// Line numbers (1-based) for byte offsets.
pub(crate) struct LineIndex {
    starts: Vec<usize>,
    len: usize,
    ends: Vec<usize>,
}

impl LineIndex {
    pub fn new(source: &str) -> Self {
        let mut starts = vec![0];
        let mut ends = Vec::new();
        for (i, b) in source.bytes().enumerate() {
            if b == b'\n' {
                let end = if i > 0 && source.as_bytes()[i - 1] == b'\r' {
                    i - 1
                } else {
                    i
                };
                ends.push(end);
                starts.push(i + 1);
            }
        }
        ends.push(source.len());
        LineIndex {
            starts,
            len: source.len(),
            ends,
        }
    }

    pub fn line_of(&self, offset: usize) -> usize {
        match self.starts.binary_search(&offset.min(self.len)) {
            Ok(i) => i + 1,
            Err(i) => i,
        }
    }

    pub fn start_of(&self, line: usize) -> usize {
        self.starts[line - 1]
    }

    /// End of the line's text, before `\r\n` or `\n`.
    pub fn end_of(&self, line: usize) -> usize {
        self.ends[line - 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_slugs() {
        assert_eq!(
            leading_number("3. Database Migration Plan").as_deref(),
            Some("3")
        );
        assert_eq!(leading_number("1.2 Sub").as_deref(), Some("1.2"));
        assert_eq!(
            leading_number("2026 plans"),
            None.or(Some("2026".to_string()))
        );
        assert_eq!(leading_number("Sign-off"), None);
        assert_eq!(slug("Related Docs & Links"), "related-docs-links");
    }

    #[test]
    fn cells_split_on_unescaped_bars() {
        let src = "| [ ] | a \\| b | c |";
        let cells: Vec<&str> = split_cells(src, 0, src.len())
            .into_iter()
            .map(|r| src[r].trim())
            .collect();
        assert_eq!(cells, ["[ ]", "a \\| b", "c"]);
        let src = "[ ] | a | b";
        let cells: Vec<&str> = split_cells(src, 0, src.len())
            .into_iter()
            .map(|r| src[r].trim())
            .collect();
        assert_eq!(cells, ["[ ]", "a", "b"]);
    }
}
