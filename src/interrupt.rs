//! Ctrl-C: long work (downloads, training) checks [`requested`] and stops cleanly, removing
//! what it had not finished writing.
