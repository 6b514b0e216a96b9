"""DLM families (dream, llada, codila): how a published diffusion LM directory is read. See registry.FAMILIES."""
