;; version: 0.3.0
;; kind: worker
;; A worker plugin whose `spin` loops `n` times: with the host's fuel per call, large
;; values of `n` run out of fuel, which the host counts as the error kind `timeout`.
(module
  (func (export "spin") (param $n i32) (param $step i32) (result i32)
    (local $i i32)
    (local $sum i32)
    (block $done
      (loop $again
        (br_if $done (i32.ge_s (local.get $i) (local.get $n)))
        (local.set $sum (i32.add (local.get $sum) (local.get $step)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $again)))
    (local.get $sum)))
