;; version: 9.9.9
;; Not a module at all: the host reports it as a load failure with the reason `invalid`.
this is not WebAssembly
