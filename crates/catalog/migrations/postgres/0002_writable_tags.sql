-- Tags that commands may write: setpoints and start/stop.
ALTER TABLE catalog_tags ADD COLUMN writable BIGINT NOT NULL DEFAULT 0;
