# CMake toolchain file for the Aeron C client that rusteron-client builds from source (see
# .cargo/config.toml): the static library is linked into rfqcore_core, a shared object, so it
# must be position-independent code.
set(CMAKE_POSITION_INDEPENDENT_CODE ON)
