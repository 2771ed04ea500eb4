//! SS-MIX2 output.
use std::path::Path;
use crate::{Error, sim::PersonOut, world::World};
/// Write one person's SS-MIX2 files.
pub fn write_person(_w: &World, _p: &PersonOut, _out: &Path) -> Result<u64, Error> { Ok(0) }
