"""Deploying projects (serverless.yml, SAM templates) into a running lambdabox.

The pipeline, one module per step; every front end compiles to a plain CloudFormation template,
as the Serverless Framework and SAM do themselves, so one engine deploys both:

    yamlfile.py     YAML with CloudFormation's short tags (!Ref, !Sub, ...) and line numbers
    project.py      the compiled project every front end returns (`Project`, `Artifact`, `Problem`)
    serverless.py   serverless.yml -> Project (functions); with serverless_vars.py (${...}
                    variables), serverless_httpapi.py / serverless_restapi.py (httpApi / http
                    events), serverless_resources.py (the role, `resources:`), serverless_model.py
                    (the Framework's names)
    sam.py          a SAM / CloudFormation template -> Project; sam_code.py (CodeUri -> artifacts),
                    sam_transform.py (AWS's aws-sam-translator runs the Transform)
    package.py      code artifacts: zips of a directory with include/exclude patterns,
                    Python requirements installed once per requirements.txt
    intrinsics.py   Ref, Fn::GetAtt, Fn::Sub, Fn::Join, Fn::If and Conditions, pseudo parameters
                    (with parameters.py, graph.py: dependency order and cycles, template_syntax.py)
    resources/      one module per AWS service: how a resource type is read, created, updated and
                    deleted through the public AWS API (botocore against the endpoint)
    plan.py         desired (the template) vs deployed (found by the aws:cloudformation:* tags) ->
                    a Plan of frozen records: create / update / delete / unchanged
    apply.py        runs a Plan in dependency order, with progress lines; a failure leaves the
                    previous deployment serving
    watch.py        --watch: the changed files of each save (watchfiles)
    command.py      `lambdabox deploy` / `remove` and the deploying half of `up`: what is printed
                    (try_lines.py: a curl command per route of each API stage deployed)

Deploy never reaches into the server: it is an AWS client like any other.
"""
