//! PNG digits to MNIST-like 28×28 inputs. (Being written.)
