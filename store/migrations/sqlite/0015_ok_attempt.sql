-- A send that went through on the first carrier it tried (the common case) keeps no
-- message_attempts row: the message's carrier and sent_at already say where and when,
-- and ok_latency_us how long the carrier took. NULL: no such attempt (failures and
-- failovers keep their rows in message_attempts).
ALTER TABLE messages ADD COLUMN ok_latency_us BIGINT;
