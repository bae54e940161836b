-- The other canonical worker RPCs (release_runbook_b3.md, "Canonical RPC
-- Signatures"): a job is addressed by its UUID, queued with a payload, and
-- every worker reports a heartbeat.
alter table ops.jobs
    add column if not exists job_id uuid not null default gen_random_uuid(),
    add column if not exists payload jsonb not null default '{}'::jsonb,
    add column if not exists priority integer not null default 0,
    add column if not exists run_at timestamptz not null default now(),
    add column if not exists attempts integer not null default 0,
    add column if not exists last_error text;

create unique index if not exists jobs_job_id on ops.jobs (job_id);

create table if not exists ops.worker_heartbeats (
    worker text primary key,
    host text not null,
    version text not null,
    status text not null,
    seen_at timestamptz not null default now()
);

create or replace function ops.update_job_status(job uuid, new_state text, error text, attempt integer)
returns void
language sql
as $$
    update ops.jobs set state = new_state, last_error = error, attempts = attempt
    where job_id = job;
$$;

create or replace function ops.queue_job(kind text, payload jsonb, priority integer, run_at timestamptz)
returns uuid
language sql
as $$
    insert into ops.jobs (kind, payload, priority, run_at)
    values (queue_job.kind, queue_job.payload, queue_job.priority, queue_job.run_at)
    returning job_id;
$$;

create or replace function ops.register_heartbeat(worker text, host text, version text, status text)
returns void
language sql
as $$
    insert into ops.worker_heartbeats (worker, host, version, status)
    values (register_heartbeat.worker, register_heartbeat.host, register_heartbeat.version, register_heartbeat.status)
    on conflict on constraint worker_heartbeats_pkey
    do update set host = excluded.host, version = excluded.version, status = excluded.status, seen_at = now();
$$;
