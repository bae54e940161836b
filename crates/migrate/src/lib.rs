//! Migration sources and runners for Preflight: SQL directories, Supabase,
//! Alembic and Python-script migrations; ledgers, advisory locks, plans and
//! pre-migration backups. (Filled in by the migrations issues.)
