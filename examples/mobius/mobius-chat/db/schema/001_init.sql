-- Chat worker tables (production_parity_checklist.md §2: chat_threads,
-- chat_turns, chat_turn_messages, chat_state).
CREATE TABLE chat_threads (
    id          bigserial PRIMARY KEY,
    user_id     text NOT NULL,
    title       text,
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE chat_turns (
    id          bigserial PRIMARY KEY,
    thread_id   bigint NOT NULL REFERENCES chat_threads (id) ON DELETE CASCADE,
    status      text NOT NULL DEFAULT 'pending',
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE chat_turn_messages (
    id          bigserial PRIMARY KEY,
    turn_id     bigint NOT NULL REFERENCES chat_turns (id) ON DELETE CASCADE,
    role        text NOT NULL,
    content     text NOT NULL
);

CREATE TABLE chat_state (
    key         text PRIMARY KEY,
    value       jsonb NOT NULL
);
