-- Login tokens carry the account's token generation; a token whose generation is not the
-- account's current one is refused. Logging out, and an admin signing an account out
-- everywhere, increment it, which ends every token issued before on every instance.
ALTER TABLE users ADD COLUMN token_generation INTEGER NOT NULL DEFAULT 0;
