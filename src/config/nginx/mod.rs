//! Front-end 2: nginx.conf syntax → a generic directive tree.
//!
//! Runs on the control thread while a configuration loads, never on the request path.
//! [`lexer`] splits bytes into statements exactly as nginx's tokenizer does; [`parser`]
//! builds the tree of [`Directive`]s from them and expands `include`. The tree says nothing
//! about what a directive means: the directive table (`directives.rs`) maps it onto the
//! configuration model, so syntax and semantics can be tested and fixed apart.

pub mod lexer;
pub mod parser;

pub use parser::{parse_file, parse_str, source_files, Arg, Directive, ParseOptions};
pub mod directives;
pub mod modules;

pub use directives::{load_tree, script_from_text};
