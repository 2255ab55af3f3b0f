//! The processor as its users see it: the field simulator's faults through
//! the demo patterns, hand-made patterns, bad input, compression's promise,
//! and checkpoints that continue exactly.

mod field;

mod bad_input;
mod checkpoint;
mod compression;
mod faults;
mod patterns;
