//! Byte layout of the index file: build.rs writes it, `index.rs` reads it in
//! place. Shared with build.rs (`#[path]`) so the two cannot drift apart.
//!
//! All numbers are little-endian, with no padding, one section after another:
//!
//! | section       | size                          | content |
//! |---------------|-------------------------------|---------|
//! | header        | [`HEADER_LEN`]                | [`MAGIC`], then u32 ZIP count, place count, region count, string bytes |
//! | ZIP nodes     | ZIP count × [`NODE_LEN`]      | implicit k-d tree: x, y, z as f32, split axis as u8 |
//! | ZIP labels    | ZIP count × [`ZIP_LABEL_LEN`] | city: u32 string offset, region: u16, ZIP: u32 string offset |
//! | place nodes   | place count × [`NODE_LEN`]    | as ZIP nodes |
//! | place labels  | place count × [`PLACE_LABEL_LEN`] | city: u32 string offset, region: u16 |
//! | regions       | region count × [`REGION_LEN`] | state: u32 string offset, country: u32 string offset |
//! | strings       | string bytes                  | each string: u8 byte length, then UTF-8; offset 0 is "" |
//!
//! An implicit k-d tree over `nodes[lo..hi]` has its root at `lo + (hi - lo) / 2`,
//! the left subtree before it and the right subtree after it: no child pointers.

/// First bytes of the file; bump the digit when the layout changes.
pub const MAGIC: [u8; 8] = *b"PACTGEO1";

/// Magic plus four u32 counts.
pub const HEADER_LEN: usize = 8 + 4 * 4;

/// x, y, z (f32 each) and the split axis (u8).
pub const NODE_LEN: usize = 3 * 4 + 1;

/// City (u32), region (u16).
pub const PLACE_LABEL_LEN: usize = 4 + 2;

/// A place label followed by the ZIP (u32).
pub const ZIP_LABEL_LEN: usize = PLACE_LABEL_LEN + 4;

/// State (u32), country (u32).
pub const REGION_LEN: usize = 4 + 4;
