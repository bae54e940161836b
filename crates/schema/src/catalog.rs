//! Reading a database's catalog into a [`Catalog`]: one query, one round
//! trip, every object of the user's schemas with the attributes a drift
//! check compares. Objects that belong to an extension, and the system
//! schemas, are left out.

use std::collections::BTreeMap;

use serde::Serialize;
use sqlx::PgConnection;

use crate::error::Error;

/// What kind of object a catalog entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    /// A schema (namespace).
    Schema,
    /// An installed extension.
    Extension,
    /// An enum type and its labels.
    Enum,
    /// A domain over a base type.
    Domain,
    /// A sequence not owned by an identity column.
    Sequence,
    /// A table (plain or partitioned), with its row-level security flags.
    Table,
    /// A table's column.
    Column,
    /// A primary key, foreign key, unique, check or exclusion constraint.
    Constraint,
    /// An index that no constraint owns.
    Index,
    /// A view or materialized view.
    View,
    /// A function or procedure, named with its identity arguments.
    Function,
    /// A table's trigger.
    Trigger,
    /// A row-level security policy.
    Policy,
}

impl ObjectKind {
    /// The kind as the catalog query and the JSON output name it.
    pub fn as_str(self) -> &'static str {
        match self {
            ObjectKind::Schema => "schema",
            ObjectKind::Extension => "extension",
            ObjectKind::Enum => "enum",
            ObjectKind::Domain => "domain",
            ObjectKind::Sequence => "sequence",
            ObjectKind::Table => "table",
            ObjectKind::Column => "column",
            ObjectKind::Constraint => "constraint",
            ObjectKind::Index => "index",
            ObjectKind::View => "view",
            ObjectKind::Function => "function",
            ObjectKind::Trigger => "trigger",
            ObjectKind::Policy => "policy",
        }
    }

    fn parse(text: &str) -> Option<ObjectKind> {
        Some(match text {
            "schema" => ObjectKind::Schema,
            "extension" => ObjectKind::Extension,
            "enum" => ObjectKind::Enum,
            "domain" => ObjectKind::Domain,
            "sequence" => ObjectKind::Sequence,
            "table" => ObjectKind::Table,
            "column" => ObjectKind::Column,
            "constraint" => ObjectKind::Constraint,
            "index" => ObjectKind::Index,
            "view" => ObjectKind::View,
            "function" => ObjectKind::Function,
            "trigger" => ObjectKind::Trigger,
            "policy" => ObjectKind::Policy,
            _ => return None,
        })
    }
}

/// One object of a catalog.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Object {
    /// What the object is.
    pub kind: ObjectKind,
    /// `schema.table`, `schema.table.column`, `schema.func(integer, text)`.
    pub name: String,
    /// The table a column, constraint, index, trigger or policy belongs to.
    pub parent: Option<String>,
    /// What is compared: `type`, `not_null`, `definition`, `body`, …
    pub attributes: BTreeMap<String, String>,
}

/// Every object of a database's user schemas, by kind and name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    /// The objects, keyed by kind and name.
    pub objects: BTreeMap<(ObjectKind, String), Object>,
    /// `server_version_num` of the database read.
    pub server_version: i32,
}

/// What a catalog read leaves out besides the system schemas and objects
/// that belong to extensions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ignore {
    /// Schemas left out whole (a ledger's own, a platform's managed ones).
    pub schemas: Vec<String>,
    /// Objects left out by name (`public.alembic_version`), with everything
    /// that belongs to them.
    pub objects: Vec<String>,
    /// Compare grants too (`--with-privileges`).
    pub privileges: bool,
}

impl Ignore {
    fn skips(&self, object: &Object) -> bool {
        let schema = match object.kind {
            ObjectKind::Schema => object.name.as_str(),
            ObjectKind::Extension => return false,
            _ => object.name.split('.').next().unwrap_or_default(),
        };
        self.schemas.iter().any(|s| s == schema)
            || self.objects.iter().any(|o| {
                &object.name == o
                    || object.parent.as_deref() == Some(o.as_str())
                    || object
                        .name
                        .strip_prefix(o.as_str())
                        .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('('))
            })
    }
}

/// The catalog query. `{BODY}` is the function body expression, which
/// depends on the server version (SQL-standard bodies exist from 14).
const QUERY: &str = r#"
WITH ns AS (
  SELECT n.oid, n.nspname FROM pg_namespace n
  WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
    AND n.nspname NOT LIKE 'pg\_temp\_%' AND n.nspname NOT LIKE 'pg\_toast\_temp\_%'
    AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_namespace'::regclass AND d.objid = n.oid AND d.deptype = 'e')
),
member AS (
  SELECT classid, objid FROM pg_depend WHERE deptype = 'e'
),
rel AS (
  SELECT c.oid, c.relname, c.relkind, c.relpersistence, c.relrowsecurity, c.relforcerowsecurity, ns.nspname
  FROM pg_class c JOIN ns ON ns.oid = c.relnamespace
  WHERE NOT EXISTS (SELECT 1 FROM member m WHERE m.classid = 'pg_class'::regclass AND m.objid = c.oid)
),
tbl AS (SELECT * FROM rel WHERE relkind IN ('r', 'p'))
SELECT 'schema', nspname, NULL, '{}' FROM ns
UNION ALL
SELECT 'extension', e.extname, NULL,
  jsonb_build_object('schema', n.nspname, 'version', e.extversion)::text
FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
UNION ALL
SELECT 'table', nspname || '.' || relname, NULL,
  jsonb_build_object('kind', CASE relkind WHEN 'p' THEN 'partitioned' ELSE 'table' END,
    'unlogged', (relpersistence = 'u')::text,
    'row_level_security', relrowsecurity::text,
    'force_row_level_security', relforcerowsecurity::text)::text
FROM tbl
UNION ALL
SELECT 'column', t.nspname || '.' || t.relname || '.' || a.attname, t.nspname || '.' || t.relname,
  jsonb_strip_nulls(jsonb_build_object(
    'type', format_type(a.atttypid, a.atttypmod),
    'not_null', a.attnotnull::text,
    'default', CASE WHEN a.attgenerated = '' THEN pg_get_expr(ad.adbin, ad.adrelid) END,
    'generated', CASE WHEN a.attgenerated <> '' THEN pg_get_expr(ad.adbin, ad.adrelid) END,
    'identity', CASE a.attidentity WHEN 'a' THEN 'always' WHEN 'd' THEN 'by default' END,
    'collation', CASE WHEN a.attcollation <> ty.typcollation THEN co.collname END))::text
FROM tbl t
JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum > 0 AND NOT a.attisdropped
JOIN pg_type ty ON ty.oid = a.atttypid
LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
LEFT JOIN pg_collation co ON co.oid = a.attcollation
UNION ALL
SELECT 'constraint', t.nspname || '.' || t.relname || '.' || con.conname, t.nspname || '.' || t.relname,
  jsonb_build_object('type', CASE con.contype WHEN 'p' THEN 'primary key' WHEN 'f' THEN 'foreign key'
      WHEN 'u' THEN 'unique' WHEN 'c' THEN 'check' WHEN 'x' THEN 'exclusion' ELSE con.contype::text END,
    'definition', pg_get_constraintdef(con.oid))::text
FROM pg_constraint con JOIN tbl t ON t.oid = con.conrelid
WHERE con.contype IN ('p', 'f', 'u', 'c', 'x')
UNION ALL
SELECT 'index', ic.nspname || '.' || ic.relname, t.nspname || '.' || t.relname,
  jsonb_build_object('definition', pg_get_indexdef(i.indexrelid), 'valid', i.indisvalid::text)::text
FROM pg_index i JOIN rel ic ON ic.oid = i.indexrelid JOIN tbl t ON t.oid = i.indrelid
WHERE NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = i.indexrelid AND con.conrelid = i.indrelid)
UNION ALL
SELECT 'view', nspname || '.' || relname, NULL,
  jsonb_build_object('kind', CASE relkind WHEN 'm' THEN 'materialized view' ELSE 'view' END,
    'definition', btrim(regexp_replace(pg_get_viewdef(oid), '\s+', ' ', 'g')))::text
FROM rel WHERE relkind IN ('v', 'm')
UNION ALL
SELECT 'function', ns.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')', NULL,
  jsonb_strip_nulls(jsonb_build_object(
    'kind', CASE p.prokind WHEN 'p' THEN 'procedure' WHEN 'w' THEN 'window' ELSE 'function' END,
    'result', pg_get_function_result(p.oid),
    'language', l.lanname,
    'volatility', CASE p.provolatile WHEN 'i' THEN 'immutable' WHEN 's' THEN 'stable' ELSE 'volatile' END,
    'security_definer', p.prosecdef::text,
    'strict', p.proisstrict::text,
    'config', array_to_string(p.proconfig, ', '),
    'body', {BODY}))::text
FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace JOIN pg_language l ON l.oid = p.prolang
WHERE p.prokind IN ('f', 'p', 'w')
  AND NOT EXISTS (SELECT 1 FROM member m WHERE m.classid = 'pg_proc'::regclass AND m.objid = p.oid)
UNION ALL
SELECT 'trigger', t.nspname || '.' || t.relname || '.' || tg.tgname, t.nspname || '.' || t.relname,
  jsonb_build_object('definition', pg_get_triggerdef(tg.oid),
    'enabled', CASE tg.tgenabled WHEN 'D' THEN 'disabled' WHEN 'R' THEN 'replica' WHEN 'A' THEN 'always' ELSE 'origin' END)::text
FROM pg_trigger tg JOIN rel t ON t.oid = tg.tgrelid
WHERE NOT tg.tgisinternal
UNION ALL
SELECT 'policy', t.nspname || '.' || t.relname || '.' || pol.polname, t.nspname || '.' || t.relname,
  jsonb_strip_nulls(jsonb_build_object(
    'command', CASE pol.polcmd WHEN 'r' THEN 'select' WHEN 'a' THEN 'insert' WHEN 'w' THEN 'update' WHEN 'd' THEN 'delete' ELSE 'all' END,
    'permissive', pol.polpermissive::text,
    'roles', (SELECT string_agg(CASE WHEN r.oid = 0 THEN 'public' ELSE ro.rolname END, ', ' ORDER BY 1)
              FROM unnest(pol.polroles) AS r(oid) LEFT JOIN pg_roles ro ON ro.oid = r.oid),
    'using', pg_get_expr(pol.polqual, pol.polrelid),
    'with_check', pg_get_expr(pol.polwithcheck, pol.polrelid)))::text
FROM pg_policy pol JOIN tbl t ON t.oid = pol.polrelid
UNION ALL
SELECT 'enum', ns.nspname || '.' || ty.typname, NULL,
  jsonb_build_object('labels', (SELECT string_agg(e.enumlabel, ', ' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = ty.oid))::text
FROM pg_type ty JOIN ns ON ns.oid = ty.typnamespace
WHERE ty.typtype = 'e'
  AND NOT EXISTS (SELECT 1 FROM member m WHERE m.classid = 'pg_type'::regclass AND m.objid = ty.oid)
UNION ALL
SELECT 'domain', ns.nspname || '.' || ty.typname, NULL,
  jsonb_strip_nulls(jsonb_build_object(
    'type', format_type(ty.typbasetype, ty.typtypmod),
    'not_null', ty.typnotnull::text,
    'default', ty.typdefault,
    'checks', (SELECT string_agg(pg_get_constraintdef(c.oid), ' AND ' ORDER BY c.conname) FROM pg_constraint c WHERE c.contypid = ty.oid)))::text
FROM pg_type ty JOIN ns ON ns.oid = ty.typnamespace
WHERE ty.typtype = 'd'
  AND NOT EXISTS (SELECT 1 FROM member m WHERE m.classid = 'pg_type'::regclass AND m.objid = ty.oid)
UNION ALL
SELECT 'sequence', r.nspname || '.' || r.relname, NULL,
  jsonb_build_object('type', format_type(s.seqtypid, NULL), 'start', s.seqstart::text,
    'increment', s.seqincrement::text, 'min', s.seqmin::text, 'max', s.seqmax::text, 'cycle', s.seqcycle::text)::text
FROM pg_sequence s JOIN rel r ON r.oid = s.seqrelid
WHERE NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = s.seqrelid AND d.deptype = 'i')
"#;

/// Grants on tables, views, sequences, functions and schemas, as one
/// attribute each (`privileges`), compared with `--with-privileges`.
const PRIVILEGES: &str = r#"
WITH ns AS (
  SELECT n.oid, n.nspname FROM pg_namespace n
  WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
    AND n.nspname NOT LIKE 'pg\_temp\_%' AND n.nspname NOT LIKE 'pg\_toast\_temp\_%'
)
SELECT CASE WHEN c.relkind IN ('r', 'p') THEN 'table' WHEN c.relkind = 'S' THEN 'sequence' ELSE 'view' END,
  ns.nspname || '.' || c.relname,
  (SELECT string_agg(a::text, ', ' ORDER BY a::text) FROM unnest(c.relacl) a)
FROM pg_class c JOIN ns ON ns.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S')
UNION ALL
SELECT 'function', ns.nspname || '.' || p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
  (SELECT string_agg(a::text, ', ' ORDER BY a::text) FROM unnest(p.proacl) a)
FROM pg_proc p JOIN ns ON ns.oid = p.pronamespace
UNION ALL
SELECT 'schema', ns.nspname, (SELECT string_agg(a::text, ', ' ORDER BY a::text) FROM unnest(n.nspacl) a)
FROM ns JOIN pg_namespace n ON n.oid = ns.oid
"#;

impl Catalog {
    /// Reads every object of the database `conn` is connected to, except
    /// what `ignore` leaves out.
    pub async fn read(conn: &mut PgConnection, ignore: &Ignore) -> Result<Catalog, Error> {
        let server_version: i32 =
            sqlx::query_scalar("SELECT current_setting('server_version_num')::int")
                .fetch_one(&mut *conn)
                .await
                .map_err(|source| Error::Query {
                    what: "read the server version",
                    source,
                })?;
        let body = if server_version >= 140_000 {
            "coalesce(pg_get_function_sqlbody(p.oid), p.prosrc)"
        } else {
            "p.prosrc"
        };
        let sql = QUERY.replace("{BODY}", body);
        let rows: Vec<(String, String, Option<String>, String)> =
            sqlx::query_as(sqlx::AssertSqlSafe(sql))
                .fetch_all(&mut *conn)
                .await
                .map_err(|source| Error::Query {
                    what: "read the catalog",
                    source,
                })?;
        let mut objects = BTreeMap::new();
        for (kind, name, parent, attributes) in rows {
            let kind = ObjectKind::parse(&kind).ok_or(Error::Unexpected {
                what: "an object kind the catalog query does not produce",
            })?;
            let attributes: BTreeMap<String, String> =
                serde_json::from_str(&attributes).map_err(|_| Error::Unexpected {
                    what: "attributes that are not a JSON object of strings",
                })?;
            let object = Object {
                kind,
                name,
                parent,
                attributes,
            };
            if !ignore.skips(&object) {
                objects.insert((kind, object.name.clone()), object);
            }
        }
        if ignore.privileges {
            let grants: Vec<(String, String, Option<String>)> = sqlx::query_as(PRIVILEGES)
                .fetch_all(&mut *conn)
                .await
                .map_err(|source| Error::Query {
                    what: "read the privileges",
                    source,
                })?;
            for (kind, name, acl) in grants {
                let Some(kind) = ObjectKind::parse(&kind) else {
                    continue;
                };
                if let Some(object) = objects.get_mut(&(kind, name)) {
                    object.attributes.insert(
                        "privileges".into(),
                        acl.unwrap_or_else(|| "(default)".into()),
                    );
                }
            }
        }
        Ok(Catalog {
            objects,
            server_version,
        })
    }
}
