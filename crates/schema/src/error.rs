//! The one error type of `preflight-schema`.

/// What can go wrong reading or comparing catalogs.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A catalog query failed.
    #[error("cannot {what}")]
    Query {
        /// What was being read.
        what: &'static str,
        #[source]
        /// The database's answer.
        source: sqlx::Error,
    },
    /// The database answered something the reader does not understand.
    #[error("the catalog query returned {what}")]
    Unexpected {
        /// What was found.
        what: &'static str,
    },
}
