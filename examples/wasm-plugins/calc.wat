;; version: 1.2.0
;; kind: calculator
;; A calculator plugin: each export is an operation. `div` traps on a zero divisor
;; (integer division by zero), which the host counts as the error kind `trap`.
(module
  (func (export "add") (param $a i32) (param $b i32) (result i32)
    (i32.add (local.get $a) (local.get $b)))
  (func (export "div") (param $a i32) (param $b i32) (result i32)
    (i32.div_s (local.get $a) (local.get $b))))
