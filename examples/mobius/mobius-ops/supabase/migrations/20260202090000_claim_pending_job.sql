-- The canonical RPC the workers call (release_runbook_b3.md: RPC signatures are contracts).
create or replace function ops.claim_pending_job(kinds text[], max_jobs integer, worker text)
returns setof ops.jobs
language sql
as $$
    update ops.jobs set state = 'claimed', claimed_by = worker
    where id in (
        select id from ops.jobs
        where state = 'pending' and kind = any (kinds)
        order by id
        limit max_jobs
        for update skip locked
    )
    returning *;
$$;
