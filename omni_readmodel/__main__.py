from omni_readmodel.cli import main

raise SystemExit(main())
