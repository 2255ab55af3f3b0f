//! The field simulator (being built).
