//! PostgreSQL contracts: the tables, columns, extensions, functions and
//! ledger versions a database must have, checked against the catalogue.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use serde::Deserialize;
use serde_saphyr::Spanned;
use sqlx::{Connection, PgConnection};

use crate::Error;
use preflight_manifest::error_text;

use crate::probe::{Check, Probe, ProbeContext};

/// What a contract file says (raw serde form).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawContract {
    #[serde(default)]
    tables: Vec<Spanned<RawTable>>,
    #[serde(default)]
    extensions: Vec<String>,
    #[serde(default)]
    functions: Vec<Spanned<String>>,
    #[serde(default)]
    ledgers: Vec<Spanned<RawLedger>>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawTable {
    Name(String),
    Detailed {
        name: String,
        #[serde(default)]
        columns: BTreeMap<String, String>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLedger {
    kind: String,
    version: StringOrList,
    /// Alembic's version table when it is not `alembic_version`.
    #[serde(default)]
    table: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum StringOrList {
    One(String),
    Many(Vec<String>),
}

/// A database contract.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contract {
    pub path: PathBuf,
    pub tables: Vec<TableContract>,
    pub extensions: Vec<String>,
    pub functions: Vec<FunctionSignature>,
    pub ledgers: Vec<LedgerExpectation>,
}

/// A table (or view) and, optionally, columns with their types.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableContract {
    pub schema: String,
    pub name: String,
    pub columns: Vec<(String, TypeName)>,
}

/// `schema.name(type, type…)`, optionally `-> result` (`setof ops.jobs`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionSignature {
    pub schema: String,
    pub name: String,
    pub args: Vec<TypeName>,
    /// What it must return, as `pg_get_function_result` writes it
    /// (compared case- and space-insensitively); unchecked when absent.
    pub result: Option<String>,
}

impl fmt::Display for FunctionSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let args: Vec<String> = self.args.iter().map(TypeName::to_string).collect();
        write!(f, "{}.{}({})", self.schema, self.name, args.join(", "))?;
        if let Some(result) = &self.result {
            write!(f, " -> {result}")?;
        }
        Ok(())
    }
}

/// A result type for comparison: lower case, single spaces.
fn normal_result(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The version a migration ledger must be at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerExpectation {
    pub kind: LedgerKind,
    /// Alembic: the heads in `alembic_version`; others: the newest version applied.
    pub versions: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LedgerKind {
    /// `preflight.schema_migrations` (SQL folders and Python scripts).
    Preflight,
    /// `supabase_migrations.schema_migrations`.
    Supabase,
    /// Alembic's version table (`alembic_version` unless named).
    Alembic { table: String },
}

impl Contract {
    pub fn load(path: &Path) -> Result<Contract, Error> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Contract::parse(path, &text)
    }

    /// Parses and validates contract text; errors name the file, line and column.
    pub fn parse(path: &Path, text: &str) -> Result<Contract, Error> {
        let raw: RawContract = serde_saphyr::from_str(text).map_err(|e| {
            let (line, column) = e
                .location()
                .map_or((1, 1), |l| (l.line() as usize, l.column() as usize));
            let rendered = e.without_snippet().to_string();
            let message = rendered
                .rfind(" at line ")
                .map_or(rendered.as_str(), |i| &rendered[..i])
                .lines()
                .next()
                .unwrap_or_default()
                .to_string();
            Error::Parse {
                path: path.to_path_buf(),
                line,
                column,
                message,
            }
        })?;
        let at = |s: &serde_saphyr::Location, message: String| Error::Parse {
            path: path.to_path_buf(),
            line: s.line() as usize,
            column: s.column() as usize,
            message,
        };
        let mut tables = Vec::new();
        for t in raw.tables {
            let (name, columns) = match t.value {
                RawTable::Name(n) => (n, BTreeMap::new()),
                RawTable::Detailed { name, columns } => (name, columns),
            };
            let (schema, name) = qualified(&name);
            let mut typed = Vec::new();
            for (column, ty) in columns {
                let ty = TypeName::parse(&ty)
                    .map_err(|why| at(&t.referenced, format!("column `{column}`: {why}")))?;
                typed.push((column, ty));
            }
            tables.push(TableContract {
                schema,
                name,
                columns: typed,
            });
        }
        let mut functions = Vec::new();
        for f in raw.functions {
            functions
                .push(FunctionSignature::parse(&f.value).map_err(|why| at(&f.referenced, why))?);
        }
        let mut ledgers = Vec::new();
        for l in raw.ledgers {
            let kind = match (l.value.kind.as_str(), l.value.table) {
                ("preflight" | "sql" | "python", None) => LedgerKind::Preflight,
                ("supabase", None) => LedgerKind::Supabase,
                ("alembic", table) => LedgerKind::Alembic {
                    table: table.unwrap_or_else(|| "alembic_version".into()),
                },
                (_, Some(_)) => {
                    return Err(at(
                        &l.referenced,
                        "`table` is only for alembic ledgers".into(),
                    ));
                }
                (other, None) => {
                    return Err(at(
                        &l.referenced,
                        format!(
                            "unknown ledger kind `{other}`; expected preflight, supabase or alembic"
                        ),
                    ));
                }
            };
            let versions = match l.value.version {
                StringOrList::One(v) => vec![v],
                StringOrList::Many(v) => v,
            };
            if versions.is_empty() || versions.iter().any(|v| v.trim().is_empty()) {
                return Err(at(&l.referenced, "a ledger `version` is empty".into()));
            }
            ledgers.push(LedgerExpectation { kind, versions });
        }
        Ok(Contract {
            path: path.to_path_buf(),
            tables,
            extensions: raw.extensions,
            functions,
            ledgers,
        })
    }
}

/// Which ledger a snapshot records the version of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotLedger {
    /// No ledger line.
    None,
    /// `preflight.schema_migrations` (an SQL folder): the newest version.
    Preflight,
    /// `supabase_migrations.schema_migrations`: the newest version.
    Supabase,
    /// Alembic's table: its heads.
    Alembic,
}

/// A contract written from a live database: every table and view of the
/// user's schemas with its columns and types, every function with its
/// argument types and result, the extensions, and the ledger's version.
/// Ledger schemas, `alembic_version`, system schemas, extension members and
/// `skip_schemas` are left out. The text parses with [`Contract::parse`]
/// and the database it came from passes it.
pub async fn snapshot_contract(
    conn: &mut PgConnection,
    ledger: SnapshotLedger,
    skip_schemas: &[String],
    header: &str,
) -> Result<String, Error> {
    const USER: &str = "n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast', 'preflight', 'supabase_migrations') \
         AND n.nspname NOT LIKE 'pg\\_%' AND NOT (n.nspname = ANY($1))";
    let tables: Vec<(String, String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT n.nspname::text || '.' || c.relname::text, a.attname::text, format_type(a.atttypid, a.atttypmod) \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
         WHERE c.relkind IN ('r', 'p', 'v', 'm') AND {USER} AND c.relname <> 'alembic_version' \
         AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e') \
         ORDER BY 1, a.attnum"
    )))
    .bind(skip_schemas)
    .fetch_all(&mut *conn)
    .await
    .map_err(Error::Snapshot)?;
    let functions: Vec<(String, String, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT n.nspname::text || '.' || p.proname::text, oidvectortypes(p.proargtypes), pg_get_function_result(p.oid) \
         FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace \
         WHERE p.prokind IN ('f', 'p') AND {USER} \
         AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid AND d.deptype = 'e') \
         AND pg_get_function_result(p.oid) <> 'trigger' \
         ORDER BY 1, 2"
    )))
    .bind(skip_schemas)
    .fetch_all(&mut *conn)
    .await
    .map_err(Error::Snapshot)?;
    let extensions: Vec<String> = sqlx::query_scalar(
        "SELECT extname::text FROM pg_extension WHERE extname <> 'plpgsql' ORDER BY 1",
    )
    .fetch_all(&mut *conn)
    .await
    .map_err(Error::Snapshot)?;
    let versions: Vec<String> = match ledger {
        SnapshotLedger::None => Vec::new(),
        SnapshotLedger::Preflight => sqlx::query_scalar(
            "SELECT version FROM preflight.schema_migrations WHERE success AND position(':' in version) = 0",
        )
        .fetch_all(&mut *conn)
        .await
        .map(|mut v: Vec<String>| {
            v.sort_by(|a, b| version_order(a, b));
            v.pop().into_iter().collect()
        })
        .unwrap_or_default(),
        SnapshotLedger::Supabase => sqlx::query_scalar(
            "SELECT max(version) FROM supabase_migrations.schema_migrations",
        )
        .fetch_one(&mut *conn)
        .await
        .map(|v: Option<String>| v.into_iter().collect())
        .unwrap_or_default(),
        SnapshotLedger::Alembic => sqlx::query_scalar("SELECT version_num::text FROM alembic_version ORDER BY 1")
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_default(),
    };
    let quote = |s: &str| {
        if s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.()[], ".contains(c))
            && !s.is_empty()
            && !s.starts_with(|c: char| c.is_ascii_digit())
        {
            s.to_string()
        } else {
            format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
        }
    };
    let mut out = String::new();
    for line in header.lines() {
        out.push_str(&format!("# {line}\n").replace("# \n", "#\n"));
    }
    out.push_str("tables:\n");
    let mut last = String::new();
    for (table, column, ty) in &tables {
        if *table != last {
            out.push_str(&format!("  - name: {}\n    columns:\n", quote(table)));
            last = table.clone();
        }
        out.push_str(&format!("      {}: {}\n", quote(column), quote(ty)));
    }
    if tables.is_empty() {
        out.truncate(out.len() - "tables:\n".len());
    }
    if !extensions.is_empty() {
        out.push_str(&format!("extensions: [{}]\n", extensions.join(", ")));
    }
    if !functions.is_empty() {
        out.push_str("functions:\n");
        for (name, args, result) in &functions {
            out.push_str(&format!(
                "  - {}\n",
                quote(&format!("{name}({args}) -> {result}"))
            ));
        }
    }
    if !versions.is_empty() {
        let kind = match ledger {
            SnapshotLedger::Preflight => "sql",
            SnapshotLedger::Supabase => "supabase",
            _ => "alembic",
        };
        let version = match versions.as_slice() {
            [one] => format!("\"{one}\""),
            many => format!(
                "[{}]",
                many.iter()
                    .map(|v| format!("\"{v}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        out.push_str(&format!(
            "ledgers:\n  - kind: {kind}\n    version: {version}\n"
        ));
    }
    Ok(out)
}

fn qualified(name: &str) -> (String, String) {
    match name.split_once('.') {
        Some((schema, table)) => (schema.to_string(), table.to_string()),
        None => ("public".to_string(), name.to_string()),
    }
}

impl FunctionSignature {
    /// Parses `ops.claim_pending_job(text[], integer, text)`, optionally
    /// followed by `-> setof ops.jobs`.
    pub fn parse(text: &str) -> Result<FunctionSignature, String> {
        let text = text.trim();
        let (text, result) = match text.rsplit_once("->") {
            Some((sig, result)) if !result.trim().is_empty() => {
                (sig.trim(), Some(result.trim().to_string()))
            }
            Some(_) => return Err(format!("`{text}` has nothing after `->`")),
            None => (text, None),
        };
        let (head, rest) = text.split_once('(').ok_or_else(|| {
            format!("`{text}` is not a signature such as schema.name(text, integer)")
        })?;
        let args = rest
            .strip_suffix(')')
            .ok_or_else(|| format!("`{text}` does not end with `)`"))?;
        let (schema, name) = qualified(head.trim());
        let args = split_args(args)
            .into_iter()
            .map(|a| TypeName::parse(&a).map_err(|why| format!("in `{text}`: {why}")))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(FunctionSignature {
            schema,
            name,
            args,
            result,
        })
    }
}

/// Splits on commas outside parentheses (`numeric(10,2), text`).
fn split_args(args: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut depth = 0;
    let mut current = String::new();
    for c in args.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    if !current.trim().is_empty() || !out.is_empty() {
        out.push(current);
    }
    out.into_iter().map(|a| a.trim().to_string()).collect()
}

/// A type name in canonical form, so `int4` = `integer` and
/// `timestamptz` = `timestamp with time zone`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeName {
    pub base: String,
    /// `(255)`, `(10,2)`; compared only when the contract gives one.
    pub modifier: Option<String>,
    pub array_dims: usize,
}

impl fmt::Display for TypeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.base)?;
        if let Some(m) = &self.modifier {
            write!(f, "({m})")?;
        }
        for _ in 0..self.array_dims {
            f.write_str("[]")?;
        }
        Ok(())
    }
}

impl TypeName {
    pub fn parse(text: &str) -> Result<TypeName, String> {
        let mut t = text.trim().to_ascii_lowercase();
        let t_words: Vec<&str> = t.split_whitespace().collect();
        t = t_words.join(" ");
        if t.is_empty() {
            return Err("a type name is empty".into());
        }
        // An argument written with its name (`p_limit integer`) keeps the type.
        let mut array_dims = 0;
        // Catalogue spelling of arrays: `_int4`.
        if let Some(inner) = t.strip_prefix('_')
            && !inner.contains(' ')
        {
            t = inner.to_string();
            array_dims = 1;
        }
        while let Some(inner) = t.strip_suffix("[]") {
            t = inner.trim_end().to_string();
            array_dims += 1;
        }
        let mut modifier = None;
        if let Some(open) = t.find('(') {
            let close = t[open..]
                .find(')')
                .map(|c| open + c)
                .ok_or_else(|| format!("`{text}` has an unclosed `(`"))?;
            let m: String = t[open + 1..close]
                .chars()
                .filter(|c| !c.is_whitespace())
                .collect();
            modifier = Some(m);
            // `timestamp(3) with time zone`: the modifier sits inside the name.
            t = format!("{}{}", t[..open].trim_end(), &t[close + 1..]);
        }
        let mut base = t.trim().to_string();
        for prefix in ["pg_catalog.", "public."] {
            if let Some(rest) = base.strip_prefix(prefix) {
                base = rest.to_string();
            }
        }
        base = canonical(&base).to_string();
        Ok(TypeName {
            base,
            modifier,
            array_dims,
        })
    }

    /// Whether the catalogue's `actual` type satisfies this expected type.
    pub fn accepts(&self, actual: &TypeName) -> bool {
        self.base == actual.base
            && self.array_dims == actual.array_dims
            && (self.modifier.is_none() || self.modifier == actual.modifier)
    }
}

fn canonical(base: &str) -> &str {
    match base {
        "int" | "int4" | "integer" | "serial" | "serial4" => "integer",
        "int8" | "bigint" | "bigserial" | "serial8" => "bigint",
        "int2" | "smallint" | "smallserial" | "serial2" => "smallint",
        "float8" | "double precision" | "float" => "double precision",
        "float4" | "real" => "real",
        "bool" | "boolean" => "boolean",
        "varchar" | "character varying" => "character varying",
        "char" | "character" | "bpchar" => "character",
        "timestamptz" | "timestamp with time zone" => "timestamp with time zone",
        "timestamp" | "timestamp without time zone" => "timestamp without time zone",
        "timetz" | "time with time zone" => "time with time zone",
        "time" | "time without time zone" => "time without time zone",
        "decimal" | "numeric" => "numeric",
        "varbit" | "bit varying" => "bit varying",
        other => other,
    }
}

/// Checks a [`Contract`] against a live database.
#[derive(Clone)]
pub struct ContractProbe {
    pub database_url: String,
    pub contract: Contract,
}

impl fmt::Debug for ContractProbe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ContractProbe")
            .field(
                "database_url",
                &preflight_manifest::redact_url(&self.database_url),
            )
            .field("contract", &self.contract.path)
            .finish()
    }
}

#[async_trait]
impl Probe for ContractProbe {
    fn kind(&self) -> &'static str {
        "postgres"
    }
    fn target(&self) -> String {
        format!(
            "{} against {}",
            self.contract.path.display(),
            preflight_manifest::redact_url(&self.database_url)
        )
    }
    fn secrets(&self) -> Vec<String> {
        // The password alone, as it would appear in a driver's error text.
        password_of(&self.database_url).into_iter().collect()
    }
    async fn check(&self, _cx: &ProbeContext) -> Check {
        let mut conn = match PgConnection::connect(&self.database_url).await {
            Ok(c) => c,
            Err(e) => {
                return Check::error(format!(
                    "cannot connect to {}: {}",
                    preflight_manifest::redact_url(&self.database_url),
                    error_text(&e)
                ));
            }
        };
        let result = differences(&mut conn, &self.contract).await;
        let _ = conn.close().await;
        match result {
            Err(e) => Check::error(format!("reading the catalogue: {}", error_text(&e))),
            Ok((checked, problems)) if problems.is_empty() => {
                Check::pass(format!("{checked} items as contracted"))
            }
            Ok((checked, problems)) => Check::fail(format!(
                "{} of {checked} items differ from the contract",
                problems.len()
            ))
            .with_evidence(problems),
        }
    }
}

fn password_of(url: &str) -> Option<String> {
    let rest = url.split_once("://")?.1;
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let userinfo = &authority[..authority.rfind('@')?];
    Some(userinfo.split_once(':')?.1.to_string())
}

/// Every difference between the database and the contract, one line each,
/// and how many items were checked.
async fn differences(
    conn: &mut PgConnection,
    contract: &Contract,
) -> Result<(usize, Vec<String>), sqlx::Error> {
    let mut problems = Vec::new();
    let mut checked = 0;
    for table in &contract.tables {
        checked += 1 + table.columns.len();
        let qualified = format!("{}.{}", table.schema, table.name);
        let columns: Vec<(String, String)> = sqlx::query_as(
            "SELECT a.attname::text, format_type(a.atttypid, a.atttypmod) \
             FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = $2 AND a.attnum > 0 AND NOT a.attisdropped",
        )
        .bind(&table.schema)
        .bind(&table.name)
        .fetch_all(&mut *conn)
        .await?;
        let exists: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r', 'p', 'v', 'm', 'f'))",
        )
        .bind(&table.schema)
        .bind(&table.name)
        .fetch_one(&mut *conn)
        .await?;
        if !exists {
            problems.push(format!("table {qualified}: missing"));
            continue;
        }
        for (column, expected) in &table.columns {
            match columns.iter().find(|(name, _)| name == column) {
                None => problems.push(format!("column {qualified}.{column}: missing")),
                Some((_, found)) => {
                    let actual = TypeName::parse(found).unwrap_or(TypeName {
                        base: found.clone(),
                        modifier: None,
                        array_dims: 0,
                    });
                    if !expected.accepts(&actual) {
                        problems.push(format!(
                            "column {qualified}.{column}: expected {expected}, found {found}"
                        ));
                    }
                }
            }
        }
    }
    if !contract.extensions.is_empty() {
        let installed: Vec<(String, String)> =
            sqlx::query_as("SELECT extname::text, extversion FROM pg_extension")
                .fetch_all(&mut *conn)
                .await?;
        for ext in &contract.extensions {
            checked += 1;
            if !installed.iter().any(|(name, _)| name == ext) {
                let available: bool = sqlx::query_scalar(
                    "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = $1)",
                )
                .bind(ext)
                .fetch_one(&mut *conn)
                .await?;
                let why = if available {
                    "not enabled (CREATE EXTENSION needed)"
                } else {
                    "not installed on this server"
                };
                problems.push(format!("extension {ext}: {why}"));
            }
        }
    }
    for function in &contract.functions {
        checked += 1;
        let found: Vec<(String, String)> = sqlx::query_as(
            "SELECT oidvectortypes(p.proargtypes), pg_get_function_result(p.oid) FROM pg_proc p \
             JOIN pg_namespace n ON n.oid = p.pronamespace \
             WHERE n.nspname = $1 AND p.proname = $2 ORDER BY 1",
        )
        .bind(&function.schema)
        .bind(&function.name)
        .fetch_all(&mut *conn)
        .await?;
        let same_args = |args: &str| {
            let actual: Vec<TypeName> = split_args(args)
                .iter()
                .filter_map(|a| TypeName::parse(a).ok())
                .collect();
            actual.len() == function.args.len()
                && function.args.iter().zip(&actual).all(|(e, a)| e.accepts(a))
        };
        let show =
            |(args, _): &(String, String)| format!("{}.{}({args})", function.schema, function.name);
        match found.iter().find(|(args, _)| same_args(args)) {
            None if found.is_empty() => problems.push(format!("function {function}: missing")),
            None => {
                let have: Vec<String> = found.iter().map(show).collect();
                problems.push(format!(
                    "function {function}: signature differs; found {}",
                    have.join(", ")
                ));
            }
            Some((_, result)) => {
                if let Some(expected) = &function.result
                    && normal_result(expected) != normal_result(result)
                {
                    problems.push(format!(
                        "function {function}: returns {result}, expected {expected}"
                    ));
                }
                // Another function of the same name makes calls by name
                // (PostgREST RPCs, named arguments) ambiguous.
                let others: Vec<String> = found
                    .iter()
                    .filter(|(args, _)| !same_args(args))
                    .map(show)
                    .collect();
                if !others.is_empty() {
                    problems.push(format!(
                        "function {function}: an extra overload exists: {}",
                        others.join(", ")
                    ));
                }
            }
        }
    }
    for ledger in &contract.ledgers {
        checked += 1;
        if let Some(problem) = ledger_problem(conn, ledger).await? {
            problems.push(problem);
        }
    }
    Ok((checked, problems))
}

async fn ledger_problem(
    conn: &mut PgConnection,
    ledger: &LedgerExpectation,
) -> Result<Option<String>, sqlx::Error> {
    let (table, query) = match &ledger.kind {
        LedgerKind::Preflight => (
            "preflight.schema_migrations".to_string(),
            "SELECT version FROM preflight.schema_migrations WHERE success".to_string(),
        ),
        LedgerKind::Supabase => (
            "supabase_migrations.schema_migrations".to_string(),
            "SELECT version FROM supabase_migrations.schema_migrations".to_string(),
        ),
        LedgerKind::Alembic { table } => (
            table.clone(),
            format!("SELECT version_num::text FROM {}", quote_qualified(table)),
        ),
    };
    let exists: bool = sqlx::query_scalar("SELECT to_regclass($1) IS NOT NULL")
        .bind(&table)
        .fetch_one(&mut *conn)
        .await?;
    if !exists {
        return Ok(Some(format!(
            "ledger {table}: missing (nothing applied; expected {})",
            ledger.versions.join(", ")
        )));
    }
    let rows: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(query))
        .fetch_all(&mut *conn)
        .await?;
    let expected = ledger.versions.join(", ");
    let ok = match ledger.kind {
        LedgerKind::Alembic { .. } => {
            let mut have = rows.clone();
            let mut want = ledger.versions.clone();
            have.sort();
            want.sort();
            have == want
        }
        LedgerKind::Preflight | LedgerKind::Supabase => {
            // Script entries (`python:name`) are recorded beside numbered
            // versions; a pinned script entry need only be applied.
            let want = &ledger.versions[0];
            if want.contains(':') {
                rows.contains(want)
            } else {
                let newest = rows
                    .iter()
                    .filter(|v| !v.contains(':'))
                    .max_by(|a, b| version_order(a, b));
                newest == Some(want)
            }
        }
    };
    if ok {
        return Ok(None);
    }
    let found = match ledger.kind {
        LedgerKind::Alembic { .. } => rows.join(", "),
        _ => rows
            .iter()
            .filter(|v| !v.contains(':'))
            .max_by(|a, b| version_order(a, b))
            .cloned()
            .unwrap_or_default(),
    };
    let found = if found.is_empty() {
        "nothing applied".to_string()
    } else {
        found
    };
    Ok(Some(format!(
        "ledger {table}: expected {expected}, found {found}"
    )))
}

/// Numeric versions compare as numbers (`10` after `9`), others as text.
fn version_order(a: &str, b: &str) -> Ordering {
    let numeric = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if numeric(a) && numeric(b) {
        let (a, b) = (a.trim_start_matches('0'), b.trim_start_matches('0'));
        a.len().cmp(&b.len()).then_with(|| a.cmp(b))
    } else {
        a.cmp(b)
    }
}

fn quote_qualified(name: &str) -> String {
    name.split('.')
        .map(|part| format!("\"{}\"", part.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ty(t: &str) -> TypeName {
        TypeName::parse(t).unwrap()
    }

    #[test]
    fn type_names_normalise() {
        assert!(ty("int4").accepts(&ty("integer")));
        assert!(ty("INT").accepts(&ty("integer")));
        assert!(ty("timestamptz").accepts(&ty("timestamp with time zone")));
        assert!(ty("text[]").accepts(&ty("_text")));
        assert!(ty("varchar").accepts(&ty("character varying(255)")));
        assert!(!ty("varchar(64)").accepts(&ty("character varying(255)")));
        assert!(ty("numeric(10, 2)").accepts(&ty("numeric(10,2)")));
        assert!(!ty("text").accepts(&ty("text[]")));
        assert!(ty("vector(1536)").accepts(&ty("public.vector(1536)")));
        assert_eq!(
            ty("timestamp(3) with time zone").to_string(),
            "timestamp with time zone(3)"
        );
    }

    #[test]
    fn signatures_parse() {
        let f = FunctionSignature::parse("ops.claim_pending_job(text[], int, text)").unwrap();
        assert_eq!(
            f.to_string(),
            "ops.claim_pending_job(text[], integer, text)"
        );
        assert_eq!(
            FunctionSignature::parse("now()").unwrap().to_string(),
            "public.now()"
        );
        assert!(FunctionSignature::parse("broken(text").is_err());
        let r =
            FunctionSignature::parse("ops.claim_pending_job(text[], int, text) -> SETOF ops.jobs")
                .unwrap();
        assert_eq!(r.result.as_deref(), Some("SETOF ops.jobs"));
        assert_eq!(
            normal_result("SETOF  ops.jobs"),
            normal_result("setof ops.jobs")
        );
        assert!(FunctionSignature::parse("f(int) ->").is_err());
    }

    #[test]
    fn versions_order_numerically() {
        assert_eq!(version_order("10", "9"), Ordering::Greater);
        assert_eq!(version_order("002", "010"), Ordering::Less);
        assert_eq!(
            version_order("20260201120000", "20260202090000"),
            Ordering::Less
        );
    }

    #[test]
    fn contract_errors_have_positions() {
        let e = Contract::parse(
            Path::new("c.yaml"),
            "tables: [a]\nfunctions:\n  - \"f(text\"\n",
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "c.yaml:3:5: `f(text` does not end with `)`");
        let e = Contract::parse(Path::new("c.yaml"), "tabels: [a]\n").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("c.yaml:1:1: unknown field `tabels`"),
            "{e}"
        );
    }
}
