//! Server-Sent Events: a decoder following WHATWG HTML §9.2.6 for any chunking, and the encoder
//! convoy-server uses.
