//! Runbook checklists as data for Preflight: parse Markdown checklists into
//! sections and items, keep state, evidence, sign-offs and an audit log beside
//! the document, evaluate gates and render the filled document byte for byte.
//! (Filled in by the checklist issue.)
