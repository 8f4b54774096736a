//! The clockwise cache engine. Not yet implemented: see the engine issue.
#![deny(missing_docs)]
