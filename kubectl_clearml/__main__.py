from kubectl_clearml.cli.main import main

main()
