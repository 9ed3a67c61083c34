//! named.conf import.
