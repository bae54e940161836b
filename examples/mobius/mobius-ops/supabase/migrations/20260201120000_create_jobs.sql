create schema if not exists ops;

create table ops.jobs (
    id bigserial primary key,
    kind text not null,
    state text not null default 'pending',
    claimed_by text,
    created_at timestamptz not null default now()
);
