{
 "patcher": {
  "fileversion": 1,
  "appversion": {
   "major": 8,
   "minor": 6,
   "revision": 0,
   "architecture": "x64",
   "modernui": 1
  },
  "classnamespace": "box",
  "rect": [
   100.0,
   100.0,
   900.0,
   560.0
  ],
  "openinpresentation": 0,
  "default_fontsize": 12.0,
  "description": "PoseNet appliance: subscribe and receive (plain udpsend/udpreceive)",
  "boxes": [
   {
    "box": {
     "id": "obj-1",
     "maxclass": "comment",
     "patching_rect": [
      20,
      10,
      700,
      40.0
     ],
     "text": "PoseNet OSC appliance, plain version: 1) set the box's address 2) click subscribe. Poses arrive as the 'bundle' format on port 9000.",
     "linecount": 2
    }
   },
   {
    "box": {
     "id": "obj-2",
     "maxclass": "message",
     "patching_rect": [
      20,
      60,
      200,
      22.0
     ],
     "text": "host 192.168.1.50, port 9001"
    }
   },
   {
    "box": {
     "id": "obj-3",
     "maxclass": "message",
     "patching_rect": [
      240,
      60,
      230,
      22.0
     ],
     "text": "/posenet/listeners/add 9000 bundle"
    }
   },
   {
    "box": {
     "id": "obj-4",
     "maxclass": "message",
     "patching_rect": [
      480,
      60,
      200,
      22.0
     ],
     "text": "/posenet/listeners/remove 9000"
    }
   },
   {
    "box": {
     "id": "obj-5",
     "maxclass": "newobj",
     "patching_rect": [
      20,
      110,
      170,
      22.0
     ],
     "text": "udpsend 192.168.1.50 9001"
    }
   },
   {
    "box": {
     "id": "obj-6",
     "maxclass": "newobj",
     "patching_rect": [
      20,
      170,
      110,
      22.0
     ],
     "text": "udpreceive 9000"
    }
   },
   {
    "box": {
     "id": "obj-7",
     "maxclass": "newobj",
     "patching_rect": [
      20,
      210,
      380,
      22.0
     ],
     "text": "route /posenet/frame /posenet/person/pose /posenet/listeners/confirm"
    }
   },
   {
    "box": {
     "id": "obj-8",
     "maxclass": "newobj",
     "patching_rect": [
      20,
      250,
      80,
      22.0
     ],
     "text": "print frame"
    }
   },
   {
    "box": {
     "id": "obj-9",
     "maxclass": "newobj",
     "patching_rect": [
      150,
      250,
      70,
      22.0
     ],
     "text": "zl slice 3"
    }
   },
   {
    "box": {
     "id": "obj-10",
     "maxclass": "newobj",
     "patching_rect": [
      150,
      290,
      90,
      22.0
     ],
     "text": "print person"
    }
   },
   {
    "box": {
     "id": "obj-11",
     "maxclass": "newobj",
     "patching_rect": [
      260,
      290,
      100,
      22.0
     ],
     "text": "print keypoints"
    }
   },
   {
    "box": {
     "id": "obj-12",
     "maxclass": "comment",
     "patching_rect": [
      20,
      330,
      700,
      40.0
     ],
     "text": "frame = index width height count; person = id index score, then 17 x (x y score), keypoints in PoseNet order (nose, leftEye ... rightAnkle), x and y 0..1",
     "linecount": 2
    }
   },
   {
    "box": {
     "id": "obj-13",
     "maxclass": "newobj",
     "patching_rect": [
      420,
      250,
      230,
      22.0
     ],
     "text": "prepend /posenet/listeners/confirm"
    }
   },
   {
    "box": {
     "id": "obj-14",
     "maxclass": "toggle",
     "patching_rect": [
      520,
      60,
      24,
      24
     ],
     "text": ""
    }
   },
   {
    "box": {
     "id": "obj-15",
     "maxclass": "newobj",
     "patching_rect": [
      550,
      60,
      90,
      22.0
     ],
     "text": "metro 20000"
    }
   },
   {
    "box": {
     "id": "obj-16",
     "maxclass": "comment",
     "patching_rect": [
      20,
      380,
      700,
      60.0
     ],
     "text": "The box answers a subscription with /posenet/listeners/confirm <nonce> on port 9000: the patch sends the nonce back (right) and then the poses come. The metro renews the subscription every 20 s: the box ends one nobody renews (after 60 s). If the owner set a subscribe key, put it last: /posenet/listeners/add 9000 bundle <key> (never the access token). Changes (remove) are confirmed the same way."
    }
   }
  ],
  "lines": [
   {
    "patchline": {
     "source": [
      "obj-2",
      0
     ],
     "destination": [
      "obj-5",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-3",
      0
     ],
     "destination": [
      "obj-5",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-4",
      0
     ],
     "destination": [
      "obj-5",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-6",
      0
     ],
     "destination": [
      "obj-7",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-7",
      0
     ],
     "destination": [
      "obj-8",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-7",
      1
     ],
     "destination": [
      "obj-9",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-9",
      0
     ],
     "destination": [
      "obj-10",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-9",
      1
     ],
     "destination": [
      "obj-11",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-7",
      2
     ],
     "destination": [
      "obj-13",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-13",
      0
     ],
     "destination": [
      "obj-5",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-14",
      0
     ],
     "destination": [
      "obj-15",
      0
     ]
    }
   },
   {
    "patchline": {
     "source": [
      "obj-15",
      0
     ],
     "destination": [
      "obj-3",
      0
     ]
    }
   }
  ]
 }
}
