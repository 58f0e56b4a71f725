#pragma once
// Strings between Python and the engine: file names as the OS takes them, generated text.
#include <string>

#include <nanobind/nanobind.h>

namespace llama_mtp {

// A file system path from Python (str, bytes or os.PathLike) as the OS takes it; a NUL byte or a
// name the file system encoding cannot represent raises InvalidArgumentError.
std::string fs_path(nanobind::handle path);
// Generated text to str: token pieces can split a UTF-8 character (byte-fallback tokens), so
// invalid bytes become U+FFFD instead of an error.
nanobind::str utf8_lenient(const std::string & bytes);
// fs_path() back to a str, as os.fsdecode does.
nanobind::str path_str(const std::string & path);
}  // namespace llama_mtp
