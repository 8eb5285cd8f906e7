//! MNIST: IDX files, the book's split, and download on demand. (Being written.)
