<#
.SYNOPSIS
  Install git-archives into its own virtual environment and put git-archives on PATH
  (Windows, Git for Windows).
.DESCRIPTION
  .\install.ps1              install or upgrade (idempotent)
  .\install.ps1 -Demo        install, then run the tutorial demo in a scratch directory
  .\install.ps1 -Uninstall   remove what install.ps1 installed
  .\install.ps1 -With gcs,azure,ssh   also the SDKs of those remote kinds (or: all)
  Run from inside one of your git clones, it also runs `git archives install` there.
  Environment: PYTHON (default: py -3, then python), GIT_ARCHIVES_HOME
  (default %LOCALAPPDATA%\git-archives).
#>
[CmdletBinding()]
param([switch]$Uninstall, [switch]$Demo, [string[]]$With = @())

$ErrorActionPreference = 'Stop'
Set-StrictMode -Version Latest

$Src = $PSScriptRoot
$HomeDir = if ($env:GIT_ARCHIVES_HOME) { $env:GIT_ARCHIVES_HOME } else { Join-Path $env:LOCALAPPDATA 'git-archives' }
$Venv = Join-Path $HomeDir 'venv'
$BinDir = Join-Path $HomeDir 'bin'
$VenvPython = Join-Path $Venv 'Scripts\python.exe'
$VenvExe = Join-Path $Venv 'Scripts\git-archives.exe'

function Fail([string]$Message) { Write-Error "install.ps1: $Message"; exit 1 }

function Get-TargetClone {
    # Windows PowerShell 5.1 turns a native command's redirected stderr ("fatal: not a git
    # repository") into a terminating error under ErrorActionPreference=Stop: relax it here.
    $prev = $ErrorActionPreference
    $ErrorActionPreference = 'Continue'
    try { $top = & git rev-parse --show-toplevel 2>$null } finally { $ErrorActionPreference = $prev }
    if ($LASTEXITCODE -ne 0 -or -not $top) { return $null }
    $topFull = (Resolve-Path $top).Path.TrimEnd('\', '/')
    $srcFull = (Resolve-Path $Src).Path.TrimEnd('\', '/')
    if ($topFull -ieq $srcFull) { return $null }
    return $topFull
}

function Find-Python {
    if ($env:PYTHON) { return @($env:PYTHON) }
    if (Get-Command py -ErrorAction SilentlyContinue) { return @('py', '-3') }
    if (Get-Command python -ErrorAction SilentlyContinue) { return @('python') }
    Fail 'Python 3.10 or newer was not found; install it from python.org (tick "Add to PATH")'
}

if ($Uninstall) {
    $clone = Get-TargetClone
    if ($clone -and (Test-Path $VenvExe)) {
        Push-Location $clone; try { & $VenvExe uninstall } finally { Pop-Location }
    }
    if (Test-Path $HomeDir) { Remove-Item -Recurse -Force $HomeDir; Write-Host "removed $HomeDir" }
    $userPath = [Environment]::GetEnvironmentVariable('Path', 'User')
    if ($userPath -and ($userPath -split ';' -contains $BinDir)) {
        $kept = ($userPath -split ';' | Where-Object { $_ -and $_ -ne $BinDir }) -join ';'
        [Environment]::SetEnvironmentVariable('Path', $kept, 'User')
        Write-Host "removed $BinDir from your user PATH"
    }
    Write-Host 'git-archives is uninstalled.'
    exit 0
}

if (-not (Get-Command git -ErrorAction SilentlyContinue)) { Fail 'git is not installed; install Git for Windows first' }
$py = Find-Python
$pyExe = $py[0]; $pyArgs = @($py | Select-Object -Skip 1)
& $pyExe @pyArgs -c 'import sys; sys.exit(sys.version_info < (3, 10))'
if ($LASTEXITCODE -ne 0) { Fail 'git-archives needs Python 3.10 or newer' }

if (-not (Test-Path $VenvPython)) {
    Write-Host "creating $Venv"
    New-Item -ItemType Directory -Force -Path $HomeDir | Out-Null
    & $pyExe @pyArgs -m venv $Venv
    if ($LASTEXITCODE -ne 0) { Fail 'could not create a virtual environment' }
}
$Extras = @($With | ForEach-Object { $_ -split ',' } | ForEach-Object { $_.Trim() } | Where-Object { $_ })
foreach ($e in $Extras) {
    if ($e -notin @('gcs', 'azure', 'ssh', 'plots', 'mlflow', 'all')) { Fail "unknown extra '$e' for -With (choose from gcs, azure, ssh, plots, mlflow, all)" }
}
$Target = if ($Extras.Count) { "$Src[$($Extras -join ',')]" } else { $Src }
Write-Host "installing git-archives from $Src"
& $VenvPython -m pip install -q --disable-pip-version-check --upgrade $Target
if ($LASTEXITCODE -ne 0) { Fail 'pip could not install git-archives (see the messages above)' }

# A small folder holding only our launcher, so PATH gains nothing else from the venv.
New-Item -ItemType Directory -Force -Path $BinDir | Out-Null
$launcher = Join-Path $BinDir 'git-archives.cmd'
Set-Content -Path $launcher -Encoding ASCII -Value "@echo off`r`n`"$VenvExe`" %*"
# Git for Windows' sh runs hooks and filters: give it a launcher without an extension too.
$shLauncher = Join-Path $BinDir 'git-archives'
$unixExe = ($VenvExe -replace '\\', '/')
Set-Content -Path $shLauncher -Encoding ASCII -NoNewline -Value "#!/bin/sh`nexec `"$unixExe`" `"`$@`"`n"
Write-Host "git-archives is at $launcher"

$userPath = [Environment]::GetEnvironmentVariable('Path', 'User')
if (-not $userPath -or -not ($userPath -split ';' -contains $BinDir)) {
    $newPath = if ($userPath) { "$userPath;$BinDir" } else { $BinDir }
    [Environment]::SetEnvironmentVariable('Path', $newPath, 'User')
    Write-Host ''
    Write-Host "NOTE: $BinDir was not on your PATH. It has been added to your user PATH;"
    Write-Host '      open a new terminal (or restart your editor) for `git archives` to be found.'
    Write-Host ''
}
$env:Path = "$BinDir;$env:Path"

$clone = Get-TargetClone
if ($clone) {
    Write-Host "setting up the clone $clone"
    Push-Location $clone; try { & $VenvExe install } finally { Pop-Location }
}
if ($Demo) { & $VenvExe demo; exit $LASTEXITCODE }
