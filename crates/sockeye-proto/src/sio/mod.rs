//! Socket.IO packets (protocol v5 and v4) and their parsers.
