//! Changing a checklist's state: check, uncheck, sign, approve — each validated
//! against the document first, each one appended to the log.

use jiff::Timestamp;

use crate::error::Error;
use crate::gate::{Requirement, gate, is_checked};
use crate::model::Checklist;
use crate::state::{Event, Evidence, SigningKey, StateLog};

/// A checklist with its state log: what people and the pipeline write to.
#[derive(Debug)]
pub struct Run {
    pub checklist: Checklist,
    pub log: StateLog,
}

impl Run {
    /// Loads a document and the log beside it (or at `state`).
    pub fn open(document: &std::path::Path, state: Option<&std::path::Path>) -> Result<Run, Error> {
        Run::open_keyed(document, state, None)
    }

    /// [`Run::open`] with the team's signing key: every entry is checked
    /// against it and new ones are signed.
    pub fn open_keyed(
        document: &std::path::Path,
        state: Option<&std::path::Path>,
        key: Option<SigningKey>,
    ) -> Result<Run, Error> {
        let checklist = Checklist::load(document)?;
        let path = state.map_or_else(
            || StateLog::default_path(document),
            std::path::Path::to_path_buf,
        );
        Ok(Run {
            checklist,
            log: StateLog::load_keyed(&path, key)?,
        })
    }

    pub fn check(
        &mut self,
        id: &str,
        by: &str,
        evidence: Vec<Evidence>,
        at: Timestamp,
    ) -> Result<(), Error> {
        self.record_item(id, by, at, |item| Event::Check { item, evidence })
    }

    pub fn uncheck(
        &mut self,
        id: &str,
        by: &str,
        reason: &str,
        at: Timestamp,
    ) -> Result<(), Error> {
        self.record_item(id, by, at, |item| Event::Uncheck {
            item,
            reason: reason.to_string(),
        })
    }

    /// Adds evidence without changing the box.
    pub fn add_evidence(
        &mut self,
        id: &str,
        by: &str,
        evidence: Vec<Evidence>,
        at: Timestamp,
    ) -> Result<(), Error> {
        self.record_item(id, by, at, |item| Event::Evidence { item, evidence })
    }

    /// Appends an event about an item that must exist in the document.
    fn record_item(
        &mut self,
        id: &str,
        by: &str,
        at: Timestamp,
        event: impl FnOnce(String) -> Event,
    ) -> Result<(), Error> {
        if self.checklist.item(id).is_none() {
            return Err(Error::UnknownItem { id: id.to_string() });
        }
        self.log.append(by, at, event(id.to_string()))?;
        Ok(())
    }

    /// Signs off a section; every item in it must be checked.
    pub fn sign(&mut self, section: &str, by: &str, at: Timestamp) -> Result<(), Error> {
        if self.checklist.section(section).is_none() && section != "doc" {
            return Err(Error::UnknownSection {
                id: section.to_string(),
            });
        }
        let state = self.log.state();
        let open: Vec<String> = self
            .checklist
            .items_in(section)
            .filter(|i| !is_checked(i, &state))
            .map(|i| i.id.clone())
            .collect();
        if !open.is_empty() {
            return Err(Error::SectionOpen {
                section: section.to_string(),
                open,
            });
        }
        self.log.append(
            by,
            at,
            Event::Sign {
                section: section.to_string(),
            },
        )?;
        Ok(())
    }

    /// The release commander's approval: every item checked and every section with items signed.
    pub fn approve(&mut self, by: &str, at: Timestamp) -> Result<(), Error> {
        let state = self.log.state();
        let mut reasons = Vec::new();
        let all = gate(&self.checklist, &state, &Requirement::All)?;
        if !all.passed {
            reasons.push(format!(
                "{} item(s) open ({})",
                all.open.len(),
                all.open
                    .iter()
                    .map(|o| o.id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        let mut unsigned: Vec<&str> = Vec::new();
        for item in &self.checklist.items {
            if !state.signoffs.contains_key(&item.section)
                && !unsigned.contains(&item.section.as_str())
            {
                unsigned.push(&item.section);
            }
        }
        if !unsigned.is_empty() {
            reasons.push(format!(
                "section(s) not signed off: {}",
                unsigned.join(", ")
            ));
        }
        if !reasons.is_empty() {
            return Err(Error::NotReady { reasons });
        }
        self.log.append(by, at, Event::Approve)?;
        Ok(())
    }
}
