from amlite.cli.app import main

main()
