//! tsunagu link (名寄せ): Japanese identity normalisation, keyed-hash tokens, blocking,
//! Fellegi–Sunter scoring and clustering.
#![allow(missing_docs)]

pub mod normalize;
pub mod record;
pub mod schema;
pub mod token;
pub mod block;
pub mod compare;
pub mod model;
pub mod cluster;
pub mod engine;
pub mod source;
pub mod simulate;
