"""The three deployable stacks. Each is thin: it composes constructs from `netviz_constructs`
and wires what one stack exports into the next."""
