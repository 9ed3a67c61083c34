//! tandem configuration: TOML text to a validated model, with located errors.
