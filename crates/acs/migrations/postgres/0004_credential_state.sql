-- Enrolment (docs/acs.md): credentials the ACS sent a device stay unconfirmed until the
-- device is known to hold them. Credentials stored before were set by operators: confirmed.
ALTER TABLE devices ADD COLUMN auth_confirmed BOOLEAN NOT NULL DEFAULT TRUE;
