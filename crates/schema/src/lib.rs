//! Catalog snapshots of PostgreSQL databases and the typed differences
//! between two: Preflight's schema drift check.
//!
//! The Prime Directive of the runbooks says the migration files are the only
//! truth for the schema. This crate reads a database's catalog in one query
//! ([`Catalog::read`]): schemas, extensions, tables (with row-level security
//! flags), columns (type, nullability, default, identity, generated
//! expression, collation), constraints, indexes (definition, validity),
//! views and materialized views, functions and procedures (identity
//! arguments, result, language, volatility, security definer, body),
//! triggers, policies, enums, domains and sequences; grants with
//! [`Ignore::privileges`]. [`diff`] compares the schema the migrations build
//! with the live one and returns [`Finding`]s: [`Difference::Unrecorded`]
//! (a manual change), [`Difference::Missing`] and [`Difference::Changed`]
//! (with the attribute, before → after).
//!
//! Building the schema the migrations make (a throwaway database on the
//! local cluster) is the caller's part: `preflight-release` does it.
//!
//! ```no_run
//! # async fn demo(expected: &mut sqlx::PgConnection, live: &mut sqlx::PgConnection) -> Result<(), preflight_schema::Error> {
//! use preflight_schema::{Catalog, Ignore, diff};
//!
//! let ignore = Ignore { schemas: vec!["supabase_migrations".into()], ..Ignore::default() };
//! let findings = diff(&Catalog::read(expected, &ignore).await?, &Catalog::read(live, &ignore).await?);
//! for f in &findings {
//!     println!("{f}"); // changed column public.jobs.state: type: text → character varying(20)
//! }
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

mod catalog;
mod diff;
mod error;

pub use catalog::{Catalog, Ignore, Object, ObjectKind};
pub use diff::{Difference, Finding, diff};
pub use error::Error;
