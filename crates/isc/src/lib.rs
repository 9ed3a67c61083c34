//! ISC configuration syntax (named.conf, dhcpd.conf, key files) and import into tandem.
