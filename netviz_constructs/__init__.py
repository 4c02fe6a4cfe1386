"""netviz's reusable constructs: each owns one concept and takes a typed, frozen props object.

Named `netviz_constructs`, not `constructs`: a top-level package of that name would shadow the
`constructs` library that cdktf itself imports."""
